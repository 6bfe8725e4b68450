-- The DASH manifest beside the HLS master (the same CMAF segments); NULL for a stream
-- published before there was one.
ALTER TABLE manifests ADD COLUMN dash_path text;
