#!/bin/sh
. /opt/shared/lib.sh
log "worker: working"
