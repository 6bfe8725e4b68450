FROM python:3.11-slim
# ffmpeg and ffprobe for the transcoding worker (the API image is the same).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streamify ./streamify
RUN pip install --no-cache-dir .
ENV STREAMIFY_HOST=0.0.0.0
EXPOSE 8000
CMD ["streamify", "serve", "--host", "0.0.0.0", "--port", "8000"]
