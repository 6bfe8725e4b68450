-- The run that holds a video's processing: its Prefect flow run id. A run takes it when it
-- begins; a run that finds it held by another stops before writing anything, so exactly one
-- run can finish a video, and a stalled video's last holder can be marked CRASHED.
ALTER TABLE videos ADD COLUMN processing_run text;
