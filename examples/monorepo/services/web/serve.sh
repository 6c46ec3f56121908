#!/bin/sh
. /opt/shared/lib.sh
log "web: serving"
