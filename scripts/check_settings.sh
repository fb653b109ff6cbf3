# Sourced by the launchers (not run): a bad setting is one line that names it, and exit 2.
setting_error() { echo "$(basename "$0"): $*" >&2; exit 2; }

# need_count NAME [MIN]: the variable NAME must hold a whole number >= MIN (default 1), below
# a billion (bash's arithmetic wraps past 2^63); it is rewritten in decimal (bash's arithmetic
# and printf would read "010" as octal 8, absl as 10).
need_count() {
  local name=$1 min=${2:-1} value=${!1-}
  [[ "$value" =~ ^0*[0-9]{1,9}$ ]] && (( 10#$value >= min )) ||
    setting_error "$name=$value: give a whole number of at least $min"
  printf -v "$name" %d "$((10#$value))"
}
