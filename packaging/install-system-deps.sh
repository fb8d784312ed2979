#!/bin/sh
# Installs the Debian packages the app and its tests need (as root), or says
# which are missing (as another user). Quick when everything is present.
set -eu

PACKAGES="libglib2.0-0 libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1
libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
libxcb-render-util0 libxcb-image0 libxcb-randr0 libxcb-xinerama0 fonts-dejavu-core fonts-noto-cjk desktop-file-utils appstream xvfb"

# Real servers for the integration tests (tests/servers): dovecot (IMAP, LMTP), postfix (SMTP),
# PostgreSQL, openssl for their certificate, and script(1) from bsdutils, which gives postfix the
# tty it needs to print its errors. The tests run their own instances on free ports.
SERVER_PACKAGES="dovecot-imapd dovecot-lmtpd postfix postgresql-15 openssl bsdutils"

# CPython's own email test messages, which the parsing tests read: Debian ships them apart
# from its python3, in libpython3.X-testsuite (other Pythons, e.g. pyenv's, carry them).
for python in /usr/bin/python3 ${PYTHON:-}; do
    version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
    case "$("$python" -c 'import sys; print(sys.prefix)' 2>/dev/null)" in
        /usr) SERVER_PACKAGES="$SERVER_PACKAGES libpython$version-testsuite" ;;
    esac
done

missing=""
for p in $PACKAGES $SERVER_PACKAGES; do
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
    case " $missing " in
        *" postfix "*) echo "First preseed postfix with: echo 'postfix postfix/main_mailer_type" \
            "select No configuration' | sudo debconf-set-selections" >&2 ;;
    esac
    echo "Install them with: sudo apt-get install$missing" >&2
    exit 0
fi
echo "Installing system packages:$missing"

case " $missing " in
    # "No configuration": no /etc/postfix/main.cf, no questions (the tests bring their own config)
    *" postfix "*) echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections ;;
esac

# Keep the packages' own daemons from starting during the install (they would hold ports
# 25/143/993/5432): a policy-rc.d that denies every start, unless the system already has one.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing

# ... and keep them from starting at boot: the tests never use the system instances.
services=""
case " $missing " in *" postfix "*) services="$services postfix" ;; esac
case " $missing " in *" dovecot-"*) services="$services dovecot" ;; esac
case " $missing " in *" postgresql-"*) services="$services postgresql" ;; esac
for s in $services; do
    if [ -d /run/systemd/system ]; then
        systemctl disable --now "$s" >/dev/null 2>&1 || true
    else
        service "$s" stop >/dev/null 2>&1 || true
        update-rc.d "$s" disable >/dev/null 2>&1 || true
    fi
done
