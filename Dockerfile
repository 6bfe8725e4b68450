FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streamify ./streamify
RUN pip install --no-cache-dir .
ENV STREAMIFY_HOST=0.0.0.0
EXPOSE 8000
CMD ["streamify", "serve", "--host", "0.0.0.0", "--port", "8000"]
