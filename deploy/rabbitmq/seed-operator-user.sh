#!/bin/sh
# RabbitMQ creates no default user on a node that imports definitions at boot, so this writes
# the operator's user beside the topology from RABBITMQ_USER and RABBITMQ_PASSWORD (compose
# takes them from the operator's .env: the repository holds no password), then starts the
# image's own entrypoint. The file is rewritten at every start, so a new password takes effect
# on restart.
set -eu
: "${RABBITMQ_USER:?set RABBITMQ_USER}"
: "${RABBITMQ_PASSWORD:?set RABBITMQ_PASSWORD}"
definitions_dir="${RABBITMQ_DEFINITIONS_DIR:-/etc/rabbitmq/definitions.d}"

json_string() {
    printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'
}
user=$(json_string "$RABBITMQ_USER")
password=$(json_string "$RABBITMQ_PASSWORD")

umask 077
cat > "$definitions_dir/operator-user.json" <<JSON
{
  "vhosts": [{"name": "/"}],
  "users": [{"name": "$user", "password": "$password", "tags": "administrator"}],
  "permissions": [{"user": "$user", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]
}
JSON
# The image's entrypoint drops from root to the rabbitmq user, which must read the file.
if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then
    chown rabbitmq "$definitions_dir/operator-user.json"
fi
exec docker-entrypoint.sh "$@"
