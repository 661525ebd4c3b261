#!/usr/bin/env bash
# Quick start: set everything up, build the demo warehouse, and ask vedder a question (offline, no model needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/vedder demo
.venv/bin/vedder ask "What were the top 5 tracks in Sweden in October 2026?"
.venv/bin/vedder ask --continue "and in Germany?"
