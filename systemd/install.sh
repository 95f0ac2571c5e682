#!/usr/bin/env bash
# Installs recording-archiver as a systemd service: the binary, the unit, an
# example config and an empty secrets file (kept if already there). As root.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
install -m 0755 target/release/recording-archiver /usr/local/bin/recording-archiver
install -d -m 0755 /etc/recording-archiver
[ -e /etc/recording-archiver/config.toml ] || install -m 0644 config/recording-archiver.toml /etc/recording-archiver/config.toml
[ -e /etc/recording-archiver/secrets.env ] || install -m 0600 /dev/null /etc/recording-archiver/secrets.env
install -m 0644 systemd/recording-archiver.service /etc/systemd/system/recording-archiver.service
systemctl daemon-reload
/usr/local/bin/recording-archiver check-config --config /etc/recording-archiver/config.toml >/dev/null \
  || echo "check /etc/recording-archiver/config.toml before starting"
echo "Set listen, sources and store in /etc/recording-archiver/config.toml, secrets in"
echo "/etc/recording-archiver/secrets.env (RECORDING_ARCHIVER__... variables), then:"
echo "  systemctl enable --now recording-archiver"
