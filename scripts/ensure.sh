#!/usr/bin/env bash
# ensure.sh brings up what Faultline needs on this machine, or says clearly what
# is missing. Usage: scripts/ensure.sh [gvisor] docker [chromium]
#   gvisor   (before docker) gVisor's runsc, registered as the runtime "runsc"
#            when this script starts the engine; optional: a machine without it
#            still runs everything on the default runtime
#   docker   a Docker engine that answers, plus a static busybox for lab images
#   chromium a headless Chromium for the browser tests
#   node     Node.js and npm, to build the lab page's bundle (web/ui)
# On Debian as root it installs and starts what is missing; elsewhere it stops
# with the command to run.
set -euo pipefail

log() { printf 'ensure: %s\n' "$*" >&2; }
die() { printf 'ensure: %s\n' "$*" >&2; exit 1; }

can_install() { [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null; }

apt_updated=
apt_install() {
	if [ -z "$apt_updated" ]; then
		log "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
		apt_updated=1
	fi
	log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

process_running() {
	local c
	for c in /proc/[0-9]*/comm; do
		[ "$(cat "$c" 2>/dev/null)" = "$1" ] && return 0
	done
	return 1
}

docker_answers() { command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; }

ensure_docker() {
	local want=()
	busybox_ok || want+=(busybox-static)
	command -v dockerd >/dev/null || docker_answers || want+=(docker.io)
	if [ ${#want[@]} -gt 0 ]; then
		can_install || die "missing: ${want[*]}. Install them (Debian: apt-get install ${want[*]}) and re-run."
		apt_install "${want[@]}"
	fi
	docker_answers && return 0
	if [ -n "${DOCKER_HOST:-}" ]; then
		die "DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST."
	fi
	[ "$(id -u)" = 0 ] || die "no Docker engine answers and starting one needs root: run 'sudo dockerd &' (or 'sudo systemctl start docker') and re-run."
	if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
		log "starting docker with systemctl"
		systemctl start docker || true
	fi
	if ! docker_answers; then
		if ! process_running dockerd; then
			# A dockerd killed with its session leaves pid files that stop the next start.
			rm -f /var/run/docker.pid /run/docker/containerd/containerd.pid
		fi
		local logf=/var/log/faultline-dockerd.log
		local args=()
		if [ -n "$runsc_wrapper" ]; then
			args+=(--add-runtime "runsc=$runsc_wrapper")
		fi
		log "starting dockerd ${args[*]} in the background (log: $logf)"
		nohup dockerd "${args[@]}" >"$logf" 2>&1 &
	fi
	for _ in $(seq 1 60); do
		docker_answers && { log "docker engine is up"; return 0; }
		sleep 1
	done
	die "dockerd did not answer within 60 s; see /var/log/faultline-dockerd.log"
}

busybox_ok() {
	# Lab images are built FROM scratch, so busybox must be the static build.
	if [ -n "${FAULTLINE_BUSYBOX:-}" ]; then
		[ -x "$FAULTLINE_BUSYBOX" ] || die "FAULTLINE_BUSYBOX=$FAULTLINE_BUSYBOX is not an executable file"
		return 0
	fi
	if command -v dpkg-query >/dev/null; then
		dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'
	else
		[ -x /bin/busybox ] || die "missing: a static busybox at /bin/busybox (or set FAULTLINE_BUSYBOX)"
	fi
}

ensure_node() {
	command -v npm >/dev/null && command -v node >/dev/null && return 0
	can_install || die "missing: Node.js and npm, to build the lab page's editor and terminal (web/ui). Install them (Debian: apt-get install nodejs npm) and re-run."
	apt_install nodejs npm
}

ensure_chromium() {
	for c in chromium chromium-browser google-chrome; do
		command -v "$c" >/dev/null && return 0
	done
	can_install || die "missing: a Chromium for the browser tests. Install it (Debian: apt-get install chromium) and re-run."
	apt_install chromium
}

# ensure_gvisor installs runsc where it can and writes the wrapper dockerd
# registers as the runtime "runsc": gVisor's own network stack is off
# (--network=none), as every Faultline container runs without a network and
# runsc cannot set one up inside some hosts' network namespaces.
runsc_wrapper=
ensure_gvisor() {
	if ! command -v runsc >/dev/null; then
		if ! can_install; then
			log "gVisor (runsc) is not installed: the runsc runtime and its tests are unavailable (Debian: apt-get install runsc)"
			return 0
		fi
		apt_install runsc || { log "could not install runsc; going on without gVisor"; return 0; }
	fi
	[ "$(id -u)" = 0 ] || return 0
	runsc_wrapper=/usr/local/libexec/faultline-runsc
	mkdir -p "$(dirname "$runsc_wrapper")"
	printf '#!/bin/sh\nexec %s --network=none "$@"\n' "$(command -v runsc)" >"$runsc_wrapper.tmp"
	chmod 755 "$runsc_wrapper.tmp"
	mv "$runsc_wrapper.tmp" "$runsc_wrapper"
	if docker_answers && ! docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'; then
		log "the running Docker engine has no runsc runtime; restart it with: dockerd --add-runtime runsc=$runsc_wrapper"
	fi
}

[ $# -gt 0 ] || die "usage: scripts/ensure.sh [gvisor] [docker] [chromium] [node]"
for what in "$@"; do
	case "$what" in
	gvisor) ensure_gvisor ;;
	docker) ensure_docker ;;
	chromium) ensure_chromium ;;
	node) ensure_node ;;
	*) die "unknown: $what (want gvisor, docker, chromium or node)" ;;
	esac
done
