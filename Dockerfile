# Chat4All: one image for the API host (lighttpd + the FastCGI responders,
# the default command), the job workers (`build/chat4all-jobs worker`), the
# deliverer (`build/chat4all-jobs deliver`) and
# the stream gateway (`build/chat4all-stream`),
# built from source on Debian 12 with Debian's libraries. PostgreSQL and
# Redis are separate services (see docker-compose.yml).
FROM debian:12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        gcc make pkg-config libc6-dev libfcgi-dev libpq-dev libhiredis-dev \
        libjson-c-dev libjwt-dev libargon2-dev libssl-dev libcurl4-openssl-dev libevent-dev \
        librdkafka-dev nodejs npm ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY lib lib
COPY fcgi fcgi
COPY jobs jobs
COPY stream stream
COPY tools/admin.c tools/backup.c tools/backup.h tools/
RUN make all
# the web UI's one library, from npm (package-lock.json pins it)
COPY package.json package-lock.json ./
COPY web web
RUN make web

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        lighttpd lighttpd-mod-openssl libfcgi0ldbl libpq5 libhiredis0.14 libjson-c5 libjwt0 \
        libargon2-1 libssl3 libcurl4 libevent-2.1-7 librdkafka1 curl ca-certificates \
        postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/chat4all chat4all \
    && install -d -o chat4all -g chat4all /var/lib/chat4all /var/lib/chat4all/run \
                                          /var/lib/chat4all/files /var/lib/chat4all/tmp
WORKDIR /opt/chat4all
COPY --from=build /src/build/chat4all-api /src/build/chat4all-admin /src/build/chat4all-jobs \
     /src/build/chat4all-stream build/
COPY conf conf
COPY migrations migrations
COPY tools tools
COPY --from=build /src/web web
ENV VAR=/var/lib/chat4all PORT=8080 BIND=0.0.0.0 RUN_AS=chat4all
EXPOSE 8080
HEALTHCHECK CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
CMD ["tools/stack.sh", "serve"]
