#!/bin/sh
# Installs the Debian packages the app and its tests need (as root), or says
# which are missing (as another user). Quick when everything is present.
set -eu

PACKAGES="libglib2.0-0 libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1
libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
libxcb-render-util0 libxcb-image0 libxcb-randr0 libxcb-xinerama0 fonts-dejavu-core fonts-noto-cjk desktop-file-utils appstream xvfb"

missing=""
for p in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "Not a Debian system: please install the equivalents of:$missing" >&2
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "Missing system packages:$missing" >&2
    echo "Install them with: sudo apt-get install$missing" >&2
    exit 0
fi
echo "Installing system packages:$missing"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
