#!/bin/sh
# Shared by the web and worker images (COPY shared/ in their Dockerfiles).
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
