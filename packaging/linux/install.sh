#!/usr/bin/env bash
# Add RLM Desktop to your application menu (no root needed), or take it out again:
#   ./install.sh              from the unpacked bundle (dist/rlm-desktop/) or a source checkout
#   ./install.sh --uninstall
# The menu entry starts the app where it is; move the folder first if you want it elsewhere.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
entry="$data/applications/rlm-desktop.desktop"
icon="$data/icons/hicolor/256x256/apps/rlm-desktop.png"

if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$entry" "$icon"
    echo "removed $entry and $icon"
    exit 0
fi

# The executable: the bundle's, else a source checkout's virtual environment.
if [ -x "$here/rlm-desktop" ]; then
    exe="$here/rlm-desktop"; desktop="$here/rlm-desktop.desktop"; png="$here/rlm-desktop.png"
elif [ -x "$here/../../.venv/bin/rlm-desktop" ]; then
    root="$(cd "$here/../.." && pwd)"
    exe="$root/.venv/bin/rlm-desktop"; desktop="$here/rlm-desktop.desktop"
    png="$root/resources/icons/rlm-desktop-256.png"
else
    echo "error: no rlm-desktop executable next to this script or in the checkout's .venv" >&2
    exit 1
fi

mkdir -p "$(dirname "$entry")" "$(dirname "$icon")"
cp "$png" "$icon"
# Exec names the executable by its full path (quoted: the folder may contain spaces).
sed "s|^Exec=rlm-desktop|Exec=\"$exe\"|" "$desktop" > "$entry"
chmod 644 "$entry"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$data/icons/hicolor" || true
echo "installed $entry (runs $exe)"
