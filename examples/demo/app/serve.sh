#!/bin/sh
cat /app-build.txt /assets.txt
