#!/usr/bin/env bash
# Reserves 2 MB hugepages and mounts hugetlbfs for rtpbolt: DPDK's mbuf pools live in
# them, and so can the flow table (--flow-table=/dev/hugepages/rtpbolt-flows).
#
#   hugepages.sh [--pages N] [--mount DIR]           reserve N pages (default 512 = 1 GiB),
#                                                    mount hugetlbfs at DIR (/dev/hugepages)
#   hugepages.sh --check [--pages N] [--mount DIR]   exit 0 if both are in place, else 1
#   hugepages.sh --release                           undo what earlier runs did
#
# Idempotent: a reservation of at least N pages and an existing 2 MB hugetlbfs mount are
# left alone, and a run that finds both says so and changes nothing. It never lowers a
# larger reservation (something else on the host may use it). What it changes is noted in
# a state file (--state, default /run/rtpbolt-hugepages.state) so that --release restores
# the page count it found and unmounts only what it mounted.
set -euo pipefail

pages=512
mount_dir=/dev/hugepages
mode=reserve
state=/run/rtpbolt-hugepages.state
sysfs=/sys/kernel/mm/hugepages/hugepages-2048kB

usage() {
    # The comment block at the top of this file.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

die() {
    echo "hugepages: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
    --pages) pages=${2:-}; shift 2 || die "--pages needs a number" ;;
    --pages=*) pages=${1#--pages=}; shift ;;
    --mount) mount_dir=${2:-}; shift 2 || die "--mount needs a directory" ;;
    --mount=*) mount_dir=${1#--mount=}; shift ;;
    --state) state=${2:-}; shift 2 || die "--state needs a file" ;;
    --state=*) state=${1#--state=}; shift ;;
    --check) mode=check; shift ;;
    --release) mode=release; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ "$pages" =~ ^[0-9]+$ ]] && [ "$pages" -gt 0 ] || die "--pages must be a positive number, not '$pages'"
[ -n "$mount_dir" ] || die "--mount needs a directory"
mount_dir=$(realpath -m -- "$mount_dir")
nr_file=$sysfs/nr_hugepages
[ -e "$nr_file" ] || die "this kernel offers no 2 MB hugepages ($sysfs is missing)"

reserved() { cat "$nr_file"; }
free_pages() { cat "$sysfs/free_hugepages"; }

# The options of the hugetlbfs mounted at $1, if any (/proc/mounts escapes blanks as \040).
mount_options() {
    local want=${1// /\\040}
    awk -v d="$want" '$2 == d && $3 == "hugetlbfs" { print $4; found = 1 } END { exit !found }' /proc/mounts
}

# hugetlbfs without pagesize= uses the default huge page size.
is_2m_mount() {
    local opts
    opts=$(mount_options "$1") || return 1
    case ",$opts," in
    *,pagesize=2M,* | *,pagesize=2048k,*) return 0 ;;
    *,pagesize=*) return 1 ;;
    esac
    grep -q '^Hugepagesize: *2048 kB' /proc/meminfo
}

state_get() { [ -f "$state" ] && sed -n "s/^$1=//p" "$state" | head -n 1; }
state_add() {
    [ -n "$(state_get "$1")" ] && return 0
    mkdir -p "$(dirname "$state")"
    echo "$1=$2" >>"$state"
}

case "$mode" in
check)
    ok=1
    have=$(reserved)
    if [ "$have" -lt "$pages" ]; then
        echo "hugepages: only $have of $pages 2 MB pages reserved (run: $0 --pages $pages)" >&2
        ok=0
    fi
    if ! mount_options "$mount_dir" >/dev/null; then
        echo "hugepages: no hugetlbfs mounted at $mount_dir (run: $0 --mount $mount_dir)" >&2
        ok=0
    elif ! is_2m_mount "$mount_dir"; then
        echo "hugepages: the hugetlbfs at $mount_dir does not use 2 MB pages ($(mount_options "$mount_dir"))" >&2
        ok=0
    fi
    [ "$ok" -eq 1 ] || exit 1
    echo "hugepages: $have 2 MB pages reserved ($(free_pages) free), hugetlbfs mounted at $mount_dir"
    ;;

reserve)
    changed=0
    have=$(reserved)
    if [ "$have" -ge "$pages" ]; then
        echo "hugepages: $have 2 MB pages reserved already (wanted $pages): unchanged"
    else
        [ -w "$nr_file" ] || die "cannot write $nr_file (run as root)"
        echo "$pages" >"$nr_file"
        got=$(reserved)
        if [ "$got" -lt "$pages" ]; then
            # Free memory too fragmented for 2 MB pages: compact it once and retry.
            echo 1 >/proc/sys/vm/compact_memory 2>/dev/null || true
            echo "$pages" >"$nr_file"
            got=$(reserved)
        fi
        if [ "$got" -lt "$pages" ]; then
            echo "$have" >"$nr_file"
            die "the kernel found room for only $got of $pages 2 MB pages; left the reservation at $have (reserve at boot instead: hugepages=$pages on the kernel command line)"
        fi
        state_add nr_hugepages "$have"
        echo "hugepages: reserved $pages 2 MB pages (was $have)"
        changed=1
    fi
    if mount_options "$mount_dir" >/dev/null; then
        is_2m_mount "$mount_dir" ||
            die "the hugetlbfs at $mount_dir does not use 2 MB pages ($(mount_options "$mount_dir")); unmount it or pick another --mount"
        echo "hugepages: hugetlbfs mounted at $mount_dir already: unchanged"
    else
        mkdir -p "$mount_dir"
        mount -t hugetlbfs -o pagesize=2M nodev "$mount_dir" || die "mounting hugetlbfs at $mount_dir failed"
        state_add mounted "$mount_dir"
        echo "hugepages: mounted hugetlbfs (2 MB pages) at $mount_dir"
        changed=1
    fi
    [ "$changed" -eq 1 ] || echo "hugepages: nothing to do"
    ;;

release)
    if [ ! -f "$state" ]; then
        echo "hugepages: nothing to release ($state records no change)"
        exit 0
    fi
    mounted=$(state_get mounted)
    if [ -n "$mounted" ] && mount_options "$mounted" >/dev/null; then
        umount "$mounted" || die "cannot unmount $mounted (files in use? stop rtpbolt and rtpbolt-dataplane first)"
        echo "hugepages: unmounted $mounted"
    fi
    orig=$(state_get nr_hugepages)
    if [ -n "$orig" ]; then
        echo "$orig" >"$nr_file"
        echo "hugepages: reservation back to $orig 2 MB pages (now $(reserved): pages in use stay until freed)"
    fi
    rm -f "$state"
    ;;
esac
