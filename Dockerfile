# One image for the web server, the worker (which owns tmux and runs the agents) and beat.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends tmux git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN pip install --no-cache-dir --no-deps -e .
ENV TMUX_ORC_DATA_DIR=/data TMUX_ORC_HOST=0.0.0.0
EXPOSE 8000
CMD ["tmux-orc", "server", "start", "--only", "web"]
