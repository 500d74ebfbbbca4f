# Sourced by the scripts here. need COMMAND PACKAGES: install Debian's PACKAGES when COMMAND is
# missing (as root), else say the line to run and stop.
need() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "$(basename "$0"): needs $1: sudo apt-get install -y $2" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends $2 </dev/null >/dev/null \
        || { apt-get update -qq </dev/null && apt-get install -y -qq --no-install-recommends $2 </dev/null >/dev/null; }
}
