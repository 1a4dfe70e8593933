#!/bin/sh
# `minio server /data`: objects are kept in memory by the stand-in; credentials are accepted as given.
exec moto_server -H 0.0.0.0 -p 9000
