# Sourced by each third-party target's setup.sh: a venv of its own with a pinned, offline-capable
# install, made idempotent by a stamp. Not run on its own.
#
# Owns: choosing a Python for the venv, creating the venv, installing the target's
# requirements.txt under its constraints.txt, and the stamp (hash of those two pin files) that
# lets a second run return in about a second.
#
# The sourcing script sets, before calling these functions:
#   SETUP_NAME  the prefix of its log lines ("litellm" logs "litellm-setup: ...")
#   HERE        its directory, holding requirements.txt and constraints.txt
#   VENV        the venv to make
# shellcheck shell=bash

log() { printf '%s-setup: %s\n' "$SETUP_NAME" "$*" >&2; }

# find_python VAR MINORS MIN MAX FALLBACK...: print the first usable interpreter's path.
# Tried in order: $VAR, pyenv's versions whose "3.<minor>" matches the regex MINORS (lowest minor
# first, newest patch first: the constraints were frozen on the lowest), then FALLBACK commands.
# Usable: MIN <= its version (<= MAX, unless MAX is empty).
find_python() {
    local var="$1" minors="$2" min="$3" max="$4"; shift 4
    local candidates=()
    [[ -n "${!var:-}" ]] && candidates+=("${!var}")
    if command -v pyenv >/dev/null 2>&1; then
        local root; root="$(pyenv root)"
        while IFS= read -r v; do candidates+=("$root/versions/$v/bin/python"); done \
            < <(ls "$root/versions" 2>/dev/null | grep -E "^3\.($minors)\.[0-9]+$" | sort -t. -k2,2n -k3,3nr)
    fi
    candidates+=("$@")
    local check="import sys; v = sys.version_info[:2]; parse = lambda s: tuple(map(int, s.split('.')))
sys.exit(not (parse('$min') <= v and ('$max' == '' or v <= parse('$max'))))"
    local py
    for py in "${candidates[@]}"; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c "$check" 2>/dev/null; then
            command -v "$py"; return 0
        fi
    done
    if [[ -n "$max" ]]; then log "no Python $min-$max found (set $var)"; else log "no Python >= $min found (set $var)"; fi
    return 1
}

stamp_of() { cat "$HERE/requirements.txt" "$HERE/constraints.txt" | sha256sum | cut -d' ' -f1; }

# ensure_venv MESSAGE CHECK FIND_PYTHON_ARGS...: make $VENV (with find_python FIND_PYTHON_ARGS...)
# unless it exists, then install the pins unless the stamp says they are; MESSAGE is logged before
# the install, and CHECK (a command) must succeed after it or the setup fails without a stamp.
ensure_venv() {
    local message="$1" check="$2"; shift 2
    if [[ ! -x "$VENV/bin/python" ]]; then
        local py; py="$(find_python "$@")"
        log "creating $VENV with $py ($("$py" --version))"
        "$py" -m venv "$VENV"
    fi
    # keep the venv out of git without touching the repo's .gitignore
    [[ -f "$VENV/.gitignore" ]] || printf '*\n' > "$VENV/.gitignore"
    local stamp; stamp="$(stamp_of)"
    if [[ -f "$VENV/.rc-installed" && "$(cat "$VENV/.rc-installed")" == "$stamp" ]]; then
        log "packages up to date"
        return
    fi
    log "$message"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$HERE/requirements.txt" -c "$HERE/constraints.txt" 2> >(grep -v 'is ignored' >&2)
    "$check" || { log "installed packages do not import"; exit 1; }
    printf '%s\n' "$stamp" > "$VENV/.rc-installed"
}
