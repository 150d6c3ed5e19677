#!/bin/sh
# The linker driver of this workspace (.cargo/config.toml): the system's cc, told to link with
# mold when it is installed (scripts/build-tools.sh installs it: linking the test binaries and
# the release binary is several times faster than with GNU ld), else with cc's default linker.
if command -v ld.mold >/dev/null 2>&1; then
    exec cc -fuse-ld=mold "$@"
fi
exec cc "$@"
