# shellcheck shell=bash
# Shared by hooks/mha-vip, hooks/mha-keepalived and hooks/mha-haproxy: MHA's hook
# arguments, the hook's own config file, SSH to the database hosts, the remote helper that
# manages an address on a host, ARP checks and the MySQL check through the moved address.
# Sourced by the hooks (which must sit in the same directory), never executed.
#
# Exit codes of every hook (MHA's contract): 0 done, 10 done with a warning and the
# manager proceeds, anything else aborts the failover / switch.

declare -gA ARG=() CFG=() CFG_HELP=()
HOOK_NAME=${HOOK_NAME:-mha-hook}
EXIT_PROCEED=10
HOOK_WARNINGS=0

now_ms() { date +%s%3N; }
HOOK_T0=$(now_ms)
# Every line says how long the hook has been running: the hook's share of a failover or of
# a switch's write-block window is visible in the manager log.
log() { printf '[%s +%sms] %s\n' "$HOOK_NAME" "$(($(now_ms) - HOOK_T0))" "$*"; }
warn() {
  HOOK_WARNINGS=$((HOOK_WARNINGS + 1))
  printf '[%s +%sms] WARNING: %s\n' "$HOOK_NAME" "$(($(now_ms) - HOOK_T0))" "$*"
}
die() {
  printf '[%s +%sms] ERROR: %s\n' "$HOOK_NAME" "$(($(now_ms) - HOOK_T0))" "$*"
  exit 1
}

# ---- arguments ------------------------------------------------------------------------

# MHA passes --key=value (and bare --flag); `--key value` is accepted too. Hyphens and
# underscores are the same. Unknown keys are kept and ignored, so newer managers that pass
# more arguments do not break the hook.
parse_args() {
  local k
  while [ $# -gt 0 ]; do
    case $1 in
      --*=*)
        k=${1%%=*}
        k=${k#--}
        ARG[${k//-/_}]=${1#*=}
        ;;
      --*)
        k=${1#--}
        k=${k//-/_}
        if [ $# -gt 1 ] && [[ $2 != --* ]]; then
          ARG[$k]=$2
          shift
        else
          ARG[$k]=1
        fi
        ;;
      *) die "unexpected argument: $1 (arguments are --key=value)" ;;
    esac
    shift
  done
}

arg() { printf '%s' "${ARG[$1]:-${2:-}}"; }

# ---- configuration --------------------------------------------------------------------

# config_key NAME DEFAULT HELP — declares a setting the hook's config file may set.
config_key() {
  CFG[$1]=$2
  CFG_HELP[$1]=$3
}

# `key = value` lines (MHA's own .cnf style); `#` or `;` starts a comment (a whole line, or
# after whitespace); values may be quoted. Unknown keys are an error: a typo must not
# silently leave a safety check off.
load_config() {
  local file=$1 line key val n=0
  [ -r "$file" ] || die "cannot read the config file $file (pass --config=FILE or set MHA_HOOK_CONFIG)"
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*([#\;].*)?$ ]] && continue
    line=${line%%[[:space:]]#*}
    line=${line%%[[:space:]]\;*}
    if ! [[ $line =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=[[:space:]]*(.*)$ ]]; then
      die "$file:$n: expected 'key = value', got: $line"
    fi
    key=${BASH_REMATCH[1],,}
    val=${BASH_REMATCH[2]}
    val=${val%"${val##*[![:space:]]}"}
    if [[ $val =~ ^\"(.*)\"$ ]] || [[ $val =~ ^\'(.*)\'$ ]]; then val=${BASH_REMATCH[1]}; fi
    [ -n "${CFG_HELP[$key]+x}" ] || die "$file:$n: unknown setting '$key' (known: $(printf '%s ' "${!CFG_HELP[@]}" | tr ' ' '\n' | sort | tr '\n' ' '))"
    CFG[$key]=$val
  done <"$file"
}

# --config=FILE, else $MHA_HOOK_CONFIG, else /etc/mha-ts/<default>.
init_hook() {
  local default_conf=$1
  shift
  parse_args "$@"
  local conf=${ARG[config]:-${MHA_HOOK_CONFIG:-/etc/mha-ts/$default_conf}}
  load_config "$conf"
  COMMAND=${ARG[command]:-}
  [ -n "$COMMAND" ] || die "missing --command (status|stop|stopssh|start)"
  # Which contract: master_ip_online_change_script gets the orig master's credentials
  # (--orig_master_user/--orig_master_password), which a failover never passes — its orig
  # master is dead.
  if [ -n "${ARG[orig_master_user]:-}${ARG[orig_master_password]:-}${ARG[orig_master_is_new_slave]:-}" ]; then
    HOOK_CONTEXT=online
  else
    HOOK_CONTEXT=failover
  fi
}

# Settings used in arithmetic must be whole numbers (and nothing else reaches $(( ))).
require_ints() {
  local k
  for k in "$@"; do
    [ -z "${CFG[$k]}" ] || [[ ${CFG[$k]} =~ ^[0-9]{1,9}$ ]] || die "$k: '${CFG[$k]}' is not a whole number"
  done
}

require_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' is not installed on this (manager) host"
  done
}

valid_ipv4() {
  [[ $1 =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || return 1
  local o
  for o in "${BASH_REMATCH[@]:1}"; do [ "$o" -le 255 ] || return 1; done
}

# Sets VIP_ADDR and VIP_CIDR from CFG[vip] (`10.0.0.100/32`; a bare address means /32).
parse_vip() {
  local v=${CFG[vip]:-}
  [ -n "$v" ] || die "'vip' is not set in the config"
  VIP_ADDR=${v%%/*}
  local prefix=32
  [[ $v == */* ]] && prefix=${v#*/}
  valid_ipv4 "$VIP_ADDR" || die "vip: '$v' is not an IPv4 address"
  [[ $prefix =~ ^[0-9]+$ ]] && [ "$prefix" -le 32 ] || die "vip: bad prefix length in '$v'"
  VIP_CIDR=$VIP_ADDR/$prefix
  local i=${CFG[interface]:-auto}
  [[ $i =~ ^[A-Za-z0-9_.@-]{1,15}$ ]] || die "interface: '$i' is not an interface name (or auto)"
}

# ---- SSH ------------------------------------------------------------------------------

# The address, user and port to reach the orig/new master over SSH: MHA's --*_ssh_ip /
# --*_ssh_host / --*_ssh_port first, then the server's ip / host; the user from the config
# (ssh_user), else MHA's --*_ssh_user / --ssh_user, else root.
ssh_host_of() { # orig|new
  local p=$1_master
  printf '%s' "${ARG[${p}_ssh_ip]:-${ARG[${p}_ssh_host]:-${ARG[${p}_ip]:-${ARG[${p}_host]:-}}}}"
}
ssh_user_of() {
  local p=$1_master
  printf '%s' "${CFG[ssh_user]:-${ARG[${p}_ssh_user]:-${ARG[ssh_user]:-root}}}"
}
ssh_port_of() {
  local p=$1_master
  printf '%s' "${ARG[${p}_ssh_port]:-${CFG[ssh_port]:-22}}"
}

# ssh_to HOST USER PORT CMD… — runs CMD (a remote shell command line) on HOST; stdin is
# passed on. Bounded by ssh_timeout; ssh_options from the config (else MHA's --ssh_options)
# come first, so they win over the defaults added here. With ssh_control_persist > 0 the
# connection is shared (OpenSSH ControlMaster): the stop and start of one switch, which
# are separate processes a moment apart, pay for the SSH handshake once per host.
ssh_to() {
  local host=$1 user=$2 port=$3
  shift 3
  local -a opts mux=()
  # shellcheck disable=SC2206 # ssh_options is a list of words, as in MHA
  opts=(${CFG[ssh_options]:-${ARG[ssh_options]:-}} -o BatchMode=yes -o ConnectTimeout="${CFG[ssh_connect_timeout]:-5}" -p "$port" -l "$user")
  if ssh_mux_on; then
    mux=(-o ControlPath="$(ssh_control_dir)/%C" -o ControlMaster=no)
    if ! ssh "${opts[@]}" "${mux[@]}" -O check "$host" >/dev/null 2>&1; then
      # The shared connection, in the background with its own stdio (a master that kept
      # ours would hold the manager's pipe open until it exits). Failing that, no retry:
      # that was the connection attempt, bounded like any other.
      timeout "${CFG[ssh_timeout]:-30}" ssh "${opts[@]}" -o ControlPath="$(ssh_control_dir)/%C" -o ControlMaster=yes \
        -o ControlPersist="${CFG[ssh_control_persist]}" -f -N "$host" </dev/null >/dev/null 2>&1 || return 255
    fi
  fi
  timeout "${CFG[ssh_timeout]:-30}" ssh "${opts[@]}" "${mux[@]}" "$host" -- "$@"
}

ssh_mux_on() { [ -n "${CFG[ssh_control_persist]+x}" ] && [ "${CFG[ssh_control_persist]:-0}" -gt 0 ] 2>/dev/null; }
ssh_control_dir() {
  local d=${CFG[ssh_control_dir]:-}
  [ -n "$d" ] || d=${XDG_RUNTIME_DIR:-/tmp}/mha-ts-ssh-$(id -u)
  [ -d "$d" ] || { mkdir -p "$d" && chmod 700 "$d"; }
  [ -O "$d" ] || die "ssh_control_dir $d is not owned by $(id -un): refusing to put SSH control sockets there"
  printf '%s' "$d"
}

# Opens the shared connection to the orig/new master in the background (no-op without
# ssh_control_persist), so that a later step finds it ready.
ssh_warm() { # WHO
  ssh_mux_on || return 0
  local host user port
  host=$(ssh_host_of "$1")
  user=$(ssh_user_of "$1")
  port=$(ssh_port_of "$1")
  [ -n "$host" ] || return 0
  (ssh_to "$host" "$user" "$port" true </dev/null >/dev/null 2>&1 &)
}

# remote WHO OP ARGS… — runs the remote helper's OP on the orig/new master (or, with
# WHO=host:ADDR, on ADDR with the new master's user and port).
remote() {
  local who=$1 host user port
  shift
  case $who in
    host:*)
      host=${who#host:}
      user=$(ssh_user_of new)
      port=${CFG[ssh_port]:-22}
      ;;
    *)
      host=$(ssh_host_of "$who")
      user=$(ssh_user_of "$who")
      port=$(ssh_port_of "$who")
      ;;
  esac
  [ -n "$host" ] || die "no address for the $who master (missing --${who}_master_host)"
  remote_helper_text | ssh_to "$host" "$user" "$port" "${CFG[remote_sudo]:+${CFG[remote_sudo]} }bash -s -- $*"
}

# remote_cmd WHO COMMAND-LINE — runs an operator-configured command (e.g. `systemctl stop
# keepalived`) on a host; the command goes on stdin, so it needs no quoting.
remote_cmd() {
  local who=$1 line=$2 host user port
  case $who in
    host:*)
      host=${who#host:}
      user=$(ssh_user_of new)
      port=${CFG[ssh_port]:-22}
      ;;
    *)
      host=$(ssh_host_of "$who")
      user=$(ssh_user_of "$who")
      port=$(ssh_port_of "$who")
      ;;
  esac
  printf '%s\n' "$line" | ssh_to "$host" "$user" "$port" "${CFG[remote_sudo]:+${CFG[remote_sudo]} }bash -s"
}

# The script the database hosts run (bash -s -- OP ARGS…). Needs iproute2, and iputils
# arping for `start`/`dad`/`garp`. Exit codes: 0 ok, 3 bad interface, 4 no arping,
# 5 someone else answers for the address.
remote_helper_text() {
  local dir=${CFG[remote_state_dir]:-/run/mha-ts}
  [[ $dir =~ ^/[A-Za-z0-9_./-]+$ ]] || die "remote_state_dir: '$dir' is not an absolute path of plain characters"
  printf 'REMOTE_STATE_DIR=%s\n' "$dir"
  cat <<'REMOTE'
set -u
PATH=$PATH:/usr/sbin:/sbin
op=$1; shift
iface_of() { # IFACE|auto HOSTIP
  if [ "$1" != auto ]; then
    [ -e "/sys/class/net/$1" ] || { echo "no interface $1 on $(hostname)"; exit 3; }
    echo "$1"; return
  fi
  local d
  d=$(ip -o -4 addr show to "$2/32" | awk 'NR==1{print $2}')
  [ -n "$d" ] || { echo "no interface carries $2 on $(hostname); set interface= in the hook config"; exit 3; }
  echo "$d"
}
where() { ip -o -4 addr show to "$1/32" | awk '{print $2, $4}'; }
need_arping() {
  command -v arping >/dev/null 2>&1 && arping -V 2>&1 | grep -qi iputils && return 0
  echo "iputils arping is not installed on $(hostname) (Debian: apt-get install iputils-arping)"; exit 4
}
# Duplicate address detection: a probe from 0.0.0.0; every host that has ADDR answers.
dad() { # ADDR IFACE WAITMS -> prints one MAC per answer
  local secs
  secs=$(awk -v ms="$3" 'BEGIN{printf "%.3f", ms/1000}')
  timeout -s INT "$secs" arping -D -c 1 -w 5 -I "$2" "$1" 2>&1 |
    sed -n 's/.*[Rr]eply from [0-9.]* \[\([0-9A-Fa-f:]*\)\].*/\1/p' | tr 'A-F' 'a-f'
}
# The gratuitous ARP senders run in the background for COUNT seconds; their PIDs are kept
# per address and MAC, so that removing the address stops them: an old holder that went on
# announcing the VIP would pull clients back to itself.
garp_list() { # ADDR MAC
  local d=$REMOTE_STATE_DIR
  { mkdir -p "$d" 2>/dev/null && [ -w "$d" ]; } || { d=/tmp/mha-ts-$(id -u); mkdir -p "$d"; }
  echo "$d/garp-$1-$(echo "$2" | tr -d ':')"
}
garp() { # ADDR IFACE COUNT MODE: unsolicited ARP in the background, the first packet at once
  local m list
  list=$(garp_list "$1" "$(cat "/sys/class/net/$2/address")")
  for m in $(echo "$4" | tr ',' ' '); do
    case $m in
      U|request) nohup arping -q -U -c "$3" -I "$2" "$1" </dev/null >/dev/null 2>&1 & echo $! >>"$list" ;;
      A|reply) nohup arping -q -A -c "$3" -I "$2" "$1" </dev/null >/dev/null 2>&1 & echo $! >>"$list" ;;
    esac
  done
}
stop_garp() { # ADDR: stop this host's senders for ADDR (only processes that are arping for ADDR)
  local mac list pid
  for mac in $(cat /sys/class/net/*/address 2>/dev/null | sort -u); do
    list=$(garp_list "$1" "$mac")
    [ -f "$list" ] || continue
    for pid in $(cat "$list"); do
      tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "arping .*$1" && kill "$pid" 2>/dev/null
    done
    rm -f "$list"
  done
}
case $op in
  where) where "$1" ;;
  del) # ADDR
    stop_garp "$1"
    where "$1" | while read -r dev cidr; do
      ip addr del "$cidr" dev "$dev" && echo "removed $cidr from $dev"
    done
    [ -z "$(where "$1")" ] || { echo "$1 is still configured on $(hostname)"; exit 1; }
    ;;
  start) # CIDR IFACE HOSTIP DADMS GARPCOUNT GARPMODE
    cidr=$1; addr=${cidr%/*}
    need_arping
    dev=$(iface_of "$2" "$3") || { echo "$dev"; exit 3; }
    others=$(dad "$addr" "$dev" "$4" | sort -u | tr '\n' ' ')
    if [ -n "$others" ]; then echo "CONFLICT $others"; exit 5; fi
    if [ -n "$(where "$addr")" ]; then echo "PRESENT"
    else ip addr add "$cidr" dev "$dev" && echo "ADDED $cidr $dev"
    fi
    garp "$addr" "$dev" "$5" "$6"
    echo "MAC $(cat "/sys/class/net/$dev/address")"
    ;;
  dad) # ADDR IFACE HOSTIP DADMS
    need_arping
    dev=$(iface_of "$2" "$3") || { echo "$dev"; exit 3; }
    others=$(dad "$1" "$dev" "$4" | sort -u | tr '\n' ' ')
    [ -z "$others" ] || { echo "CONFLICT $others"; exit 5; }
    echo "MAC $(cat "/sys/class/net/$dev/address")"
    ;;
  garp) # ADDR IFACE HOSTIP COUNT MODE
    need_arping
    dev=$(iface_of "$2" "$3") || { echo "$dev"; exit 3; }
    garp "$1" "$dev" "$4" "$5"
    echo "MAC $(cat "/sys/class/net/$dev/address")"
    ;;
  mac) # IFACE HOSTIP
    dev=$(iface_of "$1" "$2") || { echo "$dev"; exit 3; }
    echo "MAC $(cat "/sys/class/net/$dev/address")"
    ;;
  *) echo "unknown remote op $op"; exit 2 ;;
esac
REMOTE
}

# ---- checks from the manager ----------------------------------------------------------

# MACs answering an ARP request for ADDR from this host's interface (manager_arp_interface).
arp_answers() { # ADDR IFACE WAITMS
  local secs
  secs=$(awk -v ms="$3" 'BEGIN{printf "%.3f", ms/1000}')
  timeout -s INT "$secs" arping -c 1 -w 5 -I "$2" "$1" 2>&1 |
    sed -n 's/.*[Rr]eply from [0-9.]* \[\([0-9A-Fa-f:]*\)\].*/\1/p' | tr 'A-F' 'a-f' | sort -u | tr '\n' ' '
}

mysql_client() {
  local c
  for c in ${CFG[mysql_client]:-mariadb mysql}; do
    command -v "$c" >/dev/null 2>&1 && {
      printf '%s' "$c"
      return
    }
  done
  die "no MySQL client (mariadb or mysql) on this host; install one or set verify = none"
}

# "server_id hostname port" of whatever answers on HOST:PORT, as the new master's user.
# The password comes from MHA_NEW_MASTER_PASSWORD (the manager never puts it on argv), else
# from --new_master_password when that is not MHA's placeholder `xxx`.
server_identity() { # HOST PORT
  local pw=${MHA_NEW_MASTER_PASSWORD:-}
  if [ -z "$pw" ] && [ -n "${ARG[new_master_password]:-}" ] && [ "${ARG[new_master_password]}" != xxx ]; then
    pw=${ARG[new_master_password]}
  fi
  local user=${CFG[verify_user]:-${ARG[new_master_user]:-root}}
  [ -n "${CFG[verify_password]:-}" ] && pw=${CFG[verify_password]}
  MYSQL_PWD=$pw timeout 10 "$(mysql_client)" --protocol=TCP -h "$1" -P "$2" -u "$user" --connect-timeout=2 \
    -N -B -e 'SELECT @@server_id, @@hostname, @@port' 2>&1
}

# verify_through ADDR PORT — waits (verify_timeout) until ADDR:PORT is served by the new
# master: the same server_id/hostname/port as a direct connection to it. Dies otherwise.
verify_through() {
  local addr=$1 port=$2
  local nm_ip=${ARG[new_master_ip]:-${ARG[new_master_host]:-}} nm_port=${ARG[new_master_port]:-3306}
  local want got deadline
  want=$(server_identity "$nm_ip" "$nm_port") || die "cannot connect to the new master $nm_ip:$nm_port to verify: $want"
  deadline=$(($(now_ms) + ${CFG[verify_timeout]:-10} * 1000))
  while :; do
    got=$(server_identity "$addr" "$port") && [ "$got" = "$want" ] && {
      log "verified: $addr:$port is served by the new master (server_id/hostname/port: $(echo "$got" | tr '\t' ' '))"
      return 0
    }
    [ "$(now_ms)" -lt "$deadline" ] || die "$addr:$port is not served by the new master within ${CFG[verify_timeout]:-10}s (want: $(echo "$want" | tr '\t' ' '); got: $(echo "$got" | tr '\t\n' '  '))"
    sleep 0.1
  done
}

# arp_check ADDR MAC — from the manager's own interface on the segment: until
# verify_timeout, exactly one MAC, MAC, answers ARP for ADDR. Exits non-zero otherwise.
arp_check() {
  local addr=$1 want=$2 macs deadline
  deadline=$(($(now_ms) + ${CFG[verify_timeout]:-10} * 1000))
  while :; do
    macs=$(arp_answers "$addr" "${CFG[manager_arp_interface]}" "${CFG[arp_wait_ms]:-200}")
    if [ "$macs" = "$want " ]; then
      log "ARP from the manager: only the new master ($want) answers for $addr"
      return 0
    fi
    if [ "$(wc -w <<<"$macs")" -gt 1 ]; then die "two hosts answer ARP for $addr: $macs"; fi
    [ "$(now_ms)" -lt "$deadline" ] || die "ARP for $addr is answered by '${macs:-nobody}', not by the new master ($want)"
    sleep 0.05
  done
}

# verify_vip MAC — the VIP is the new master's: ARP from the manager (manager_arp_interface)
# and a MySQL connection through it (verify = mysql), both at once. Dies otherwise.
verify_vip() {
  local mac=$1 arp_pid=""
  if [ -n "${CFG[manager_arp_interface]:-}" ]; then
    require_cmd arping
    arp_check "$VIP_ADDR" "$mac" &
    arp_pid=$!
  fi
  case ${CFG[verify]} in
    mysql) verify_through "$VIP_ADDR" "${CFG[vip_port]:-$(arg new_master_port 3306)}" ;;
    none) log "verify = none: not connecting through the VIP" ;;
    *) die "verify: '${CFG[verify]}' (use mysql or none)" ;;
  esac
  if [ -n "$arp_pid" ]; then wait "$arp_pid" || die "the ARP check failed (above): not reporting success"; fi
}

# The configured gratuitous-ARP modes: `both` → U,A.
garp_modes() {
  case ${CFG[garp_mode]:-both} in
    both) echo U,A ;;
    U | request) echo U ;;
    A | reply) echo A ;;
    *) die "garp_mode: '${CFG[garp_mode]}' (use both, request or reply)" ;;
  esac
}

# Exit as MHA expects: 0, or 10 when there were warnings and the step still counts as done.
finish() {
  if [ "$HOOK_WARNINGS" -gt 0 ] && [ "${1:-}" != strict ]; then
    log "done with $HOOK_WARNINGS warning(s); exit $EXIT_PROCEED (the manager proceeds)"
    exit "$EXIT_PROCEED"
  fi
  log "done"
  exit 0
}
