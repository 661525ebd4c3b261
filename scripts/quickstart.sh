#!/usr/bin/env bash
# Quick start: set everything up, build the demo warehouse, and ask vedder a question (offline, no model needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/vedder demo
.venv/bin/vedder ask "How many streams were there per country last week?"
.venv/bin/vedder ask --continue "and in Sweden only?"
