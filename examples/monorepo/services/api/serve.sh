#!/bin/sh
echo "api: serving"
