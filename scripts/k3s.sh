#!/usr/bin/env bash
# k3s.sh runs a single-node Kubernetes (k3s, built from the Go module proxy) and
# a local image registry on this machine, for Faultline's Kubernetes backend and
# its tests. It leaves the Docker engine alone: k3s has its own containerd.
#
# Usage: scripts/k3s.sh COMMAND
#   build    build what the cluster needs, once per machine (k3s, runc, a pause
#            image) into the cache; installs Debian packages that are missing
#   up       build if needed, start the registry and the cluster, wait until
#            the node is Ready, write the kubeconfig; returns at once when both
#            are already up
#   down     stop the cluster and the registry and clean up what they left on
#            the host (containers, mounts, the pod bridge, iptables chains,
#            sysctls the kubelet changed); the cluster's state and the
#            registry's images stay for the next `up`
#   purge    down, then delete the cluster's state and the registry's images
#            (the build cache stays)
#   status   say what runs; exit 0 when the node is Ready and the registry
#            answers, 3 otherwise
#   env      print shell exports: KUBECONFIG, FAULTLINE_K8S_REGISTRY (the
#            registry's host:port) and FAULTLINE_K3S_BIN (kubectl, crictl)
#   kubectl  ARGS...: kubectl against this cluster
#
# Environment (defaults in brackets):
#   FAULTLINE_K3S_CACHE     built binaries and images [/var/cache/faultline/k3s]
#   FAULTLINE_K3S_STATE     cluster data, kubelet root, registry storage, logs,
#                           kubeconfig [/var/lib/faultline/k3s]
#   FAULTLINE_K3S_VERSION   github.com/k3s-io/k3s module version
#   FAULTLINE_RUNC_VERSION  github.com/opencontainers/runc module version
#   FAULTLINE_K3S_API_PORT  API server port [6443] (on every address, as Pods
#                           reach it on the node's; the kubeconfig uses 127.0.0.1)
#   FAULTLINE_REGISTRY_PORT registry port on 127.0.0.1 [5000]
#   FAULTLINE_K3S_KEEP_BUILD=1 keep the k3s build's module and build caches
#                           (~9 GB) instead of deleting them after the build
# One cluster per machine (it owns /run/k3s, the node's kubelet ports and
# the Pod bridge). On Debian as root it installs and starts what is missing;
# elsewhere it stops with what to install.
set -euo pipefail

K3S_VERSION=${FAULTLINE_K3S_VERSION:-v1.35.1-0.20260211145931-c5b158798933}
RUNC_VERSION=${FAULTLINE_RUNC_VERSION:-v1.4.0}
CACHE=${FAULTLINE_K3S_CACHE:-/var/cache/faultline/k3s}
STATE=${FAULTLINE_K3S_STATE:-/var/lib/faultline/k3s}
API_PORT=${FAULTLINE_K3S_API_PORT:-6443}
REGISTRY_PORT=${FAULTLINE_REGISTRY_PORT:-5000}
REGISTRY=127.0.0.1:$REGISTRY_PORT
PAUSE_IMAGE=faultline.local/pause:1
CLUSTER_CIDR=10.42.0.0/16
POD_CIDR=10.42.0.0/24
SERVICE_CIDR=10.43.0.0/16
BRIDGE=flk3s0
# The Pod spec has no process limit; the kubelet caps every Pod at this many
# (faultline.DefaultGradeLimits.Pids).
POD_MAX_PIDS=256

BIN=$CACHE/bin                 # k3s, runc and the k3s multicall links
DATA=$STATE/data               # k3s --data-dir
KUBELET_DIR=$STATE/kubelet     # kubelet --root-dir
CNI_CONF=$STATE/cni            # the bridge conflist
RUN=$STATE/run                 # pid files, saved sysctls
LOGS=$STATE/log
KUBECONFIG_PATH=$STATE/kubeconfig.yaml
CONTAINERD_SOCK=/run/k3s/containerd/containerd.sock
CNI_BIN=/usr/lib/cni

log() { printf 'k3s.sh: %s\n' "$*" >&2; }
die() { printf 'k3s.sh: %s\n' "$*" >&2; exit 1; }

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

# ensure_packages installs the Debian packages the build and the cluster use:
# a C toolchain and libseccomp for runc, the CNI plugins (bridge, host-local,
# portmap, firewall), the registry, ipset for the network policy controller,
# conntrack for kube-proxy, and a static busybox for the images built here.
ensure_packages() {
	local want=() p
	for p in build-essential pkg-config libseccomp-dev containernetworking-plugins docker-registry ipset conntrack iptables busybox-static; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || want+=("$p")
	done
	[ ${#want[@]} -eq 0 ] && return 0
	can_install || die "missing: ${want[*]}. Install them (Debian: apt-get install ${want[*]}) and re-run."
	apt_install "${want[@]}"
}

need_root() { [ "$(id -u)" = 0 ] || die "$1 needs root (it starts a kubelet and containerd)"; }

# ---------------------------------------------------------------- build ----

# build_k3s builds the k3s server (with kubectl, crictl, ctr and containerd in
# the same binary) from the module proxy. k3s's go.mod has replace directives,
# so it is built inside a writable copy of the module, with a private module
# and build cache that are deleted afterwards (they grow to ~9 GB).
build_k3s() {
	# The stamp names the version and this recipe's revision: a change to
	# how k3s is built here rebuilds it.
	local stamp=$BIN/.k3s-$K3S_VERSION-r2
	[ -x "$BIN/k3s" ] && [ -x "$BIN/containerd-shim-runc-v2" ] && [ -f "$stamp" ] && return 0
	command -v go >/dev/null || die "missing: Go (https://go.dev/dl), to build k3s"
	local work=$CACHE/build
	local gomod=$work/gomod gocache=$work/gocache src=$work/src
	mkdir -p "$work" "$BIN"
	log "downloading github.com/k3s-io/k3s@$K3S_VERSION"
	local dir
	dir=$(cd "$work" && GOMODCACHE=$gomod GOFLAGS=-modcacherw go mod download -json "github.com/k3s-io/k3s@$K3S_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -d "$dir" ] || die "go mod download github.com/k3s-io/k3s@$K3S_VERSION gave no directory"
	rm -rf "$src"
	cp -r "$dir" "$src"
	chmod -R u+w "$src"
	# k3s applies the manifests it embeds at start; its own build copies them
	# in first. Among them is the RBAC its network policy controller and the
	# API server's kubelet client (exec, logs) need.
	cp -r "$src"/manifests/. "$src/pkg/deploy/embed/"
	local kube commit major minor full date
	# The Kubernetes version k3s vendors, from its replace of k8s.io/kubernetes
	# (e.g. v1.35.1-k3s1).
	kube=$(sed -n 's#^[[:space:]]*k8s.io/kubernetes => [^ ]* \(v[0-9.]*\).*#\1#p' "$src/go.mod" | head -1)
	[ -n "$kube" ] || die "could not read the Kubernetes version from k3s's go.mod"
	commit=${K3S_VERSION##*-}
	major=$(echo "$kube" | cut -d. -f1 | tr -d v)
	minor=$(echo "$kube" | cut -d. -f2)
	full="$kube+k3s-${commit:0:8}"
	date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	local ld="-w -s"
	ld+=" -X github.com/k3s-io/k3s/pkg/version.Version=$full"
	ld+=" -X github.com/k3s-io/k3s/pkg/version.GitCommit=${commit:0:8}"
	ld+=" -X github.com/k3s-io/k3s/pkg/version.UpstreamGolang=$(go env GOVERSION)"
	local p
	for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
		ld+=" -X $p.gitVersion=$full -X $p.gitMajor=$major -X $p.gitMinor=$minor"
		ld+=" -X $p.gitCommit=$commit -X $p.gitTreeState=clean -X $p.buildDate=$date"
	done
	log "building k3s $full (about 15 minutes on 2 cores; log: $work/build.log)"
	if ! (cd "$src" &&
		GOMODCACHE=$gomod GOCACHE=$gocache GOFLAGS="-modcacherw -buildvcs=false" CGO_ENABLED=1 \
			CGO_CFLAGS="-DSQLITE_ENABLE_DBSTAT_VTAB=1 -DSQLITE_USE_ALLOCA=1" \
			go build -trimpath -o "$BIN/k3s.new" \
			-tags "ctrd netcgo osusergo providerless urfave_cli_no_docs sqlite_omit_load_extension" \
			-ldflags "$ld" ./cmd/server) >"$work/build.log" 2>&1; then
		tail -20 "$work/build.log" >&2
		die "building k3s failed; see $work/build.log"
	fi
	# containerd starts one shim per Pod; it is built from the containerd k3s
	# embeds rather than taken from the host (Docker's is another version).
	if ! (cd "$src" &&
		GOMODCACHE=$gomod GOCACHE=$gocache GOFLAGS="-modcacherw -buildvcs=false" CGO_ENABLED=0 \
			go build -trimpath -o "$BIN/containerd-shim-runc-v2" -ldflags "-w -s" \
			github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2) >>"$work/build.log" 2>&1; then
		tail -20 "$work/build.log" >&2
		die "building containerd-shim-runc-v2 failed; see $work/build.log"
	fi
	mv "$BIN/k3s.new" "$BIN/k3s"
	for p in kubectl crictl ctr containerd k3s-server k3s-agent; do
		ln -sfn k3s "$BIN/$p"
	done
	rm -f "$BIN"/.k3s-*
	touch "$stamp"
	if [ "${FAULTLINE_K3S_KEEP_BUILD:-}" != 1 ]; then
		rm -rf "$gomod" "$gocache" "$src"
	fi
}

# build_runc builds runc with seccomp from the module proxy: Debian's runc 1.1
# fails under this kubelet.
build_runc() {
	local stamp=$BIN/.runc-$RUNC_VERSION
	[ -x "$BIN/runc" ] && [ -f "$stamp" ] && return 0
	local work=$CACHE/build
	mkdir -p "$work" "$BIN"
	log "building runc $RUNC_VERSION"
	local dir
	dir=$(cd "$work" && GOMODCACHE=$work/gomod GOFLAGS=-modcacherw go mod download -json "github.com/opencontainers/runc@$RUNC_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -d "$dir" ] || die "go mod download github.com/opencontainers/runc@$RUNC_VERSION gave no directory"
	rm -rf "$work/runc"
	cp -r "$dir" "$work/runc"
	chmod -R u+w "$work/runc"
	if ! (cd "$work/runc" &&
		GOMODCACHE=$work/gomod GOCACHE=$work/gocache GOFLAGS="-modcacherw -buildvcs=false -mod=mod" CGO_ENABLED=1 \
			go build -trimpath -tags seccomp -o "$BIN/runc.new" \
			-ldflags "-w -s -X main.version=${RUNC_VERSION#v}" .) >"$work/runc.log" 2>&1; then
		tail -20 "$work/runc.log" >&2
		die "building runc failed; see $work/runc.log"
	fi
	mv "$BIN/runc.new" "$BIN/runc"
	rm -f "$BIN"/.runc-*
	touch "$stamp"
	rm -rf "$work/runc"
	if [ "${FAULTLINE_K3S_KEEP_BUILD:-}" != 1 ]; then
		rm -rf "$work/gomod" "$work/gocache"
	fi
}

# build_pause builds the Pod sandbox ("pause") image: a static Go program that
# sleeps until it is told to stop and reaps orphans, in an image FROM scratch,
# saved as a tarball k3s imports at start.
build_pause() {
	local tar=$CACHE/images/pause.tar
	[ -f "$tar" ] && return 0
	local work=$CACHE/build/pause
	rm -rf "$work"
	mkdir -p "$work" "$CACHE/images"
	cat >"$work/main.go" <<'GO'
// Command pause holds a Pod's namespaces: it waits for SIGINT or SIGTERM and
// reaps the children that are reparented to it.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
GO
	printf 'module pause\n\ngo 1.21\n' >"$work/go.mod"
	(cd "$work" && CGO_ENABLED=0 go build -trimpath -ldflags '-w -s' -o pause .)
	printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$work/Dockerfile"
	command -v docker >/dev/null || die "missing: docker, to build the pause image"
	docker build -q -t "$PAUSE_IMAGE" "$work" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; die "building the pause image failed"; }
	docker save -o "$tar.new" "$PAUSE_IMAGE"
	docker rmi "$PAUSE_IMAGE" >/dev/null
	mv "$tar.new" "$tar"
	rm -rf "$work"
}

cmd_build() {
	need_root build
	ensure_packages
	mkdir -p "$CACHE"
	exec 8>"$CACHE/.lock"
	flock 8
	build_runc
	build_pause
	build_k3s
	log "built: $(du -sh "$CACHE" | cut -f1) in $CACHE"
}

# ------------------------------------------------------------ processes ----

NODE=faultline

# cmdline_has PID EXE WORD: the process was started as EXE (by path or by
# name) with WORD among its arguments.
cmdline_has() {
	local args
	args=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
	[[ "$args" == "$2 "* || "$args" == "${2##*/} "* ]] && [[ " $args" == *" $3 "* ]]
}

# find_proc EXE WORD [PIDFILE] prints the pid of a process started as EXE with
# WORD among its arguments: the one in PIDFILE if it still is such a process
# (its binary may have been replaced since), else the first found in /proc
# (a pid file can be stale, or lost with a killed session).
find_proc() {
	local exe=$1 word=$2 pidfile=${3:-} p
	if [ -n "$pidfile" ] && [ -f "$pidfile" ]; then
		p=$(<"$pidfile")
		if [ -n "$p" ] && [ -d "/proc/$p" ] && cmdline_has "$p" "$exe" "$word"; then
			echo "$p"
			return 0
		fi
	fi
	for p in /proc/[0-9]*; do
		[ "$p/exe" -ef "$exe" ] || continue
		cmdline_has "${p#/proc/}" "$exe" "$word" || continue
		echo "${p#/proc/}"
		return 0
	done
	return 1
}

# settle_pid EXE WORD PIDFILE waits up to 10 s for the process just started
# in the background to be EXE itself and writes its pid to PIDFILE. $! is
# not always that process: setsid forks when it leads its process group (as
# under job control) and its parent exits at once, and until the child has
# exec'd EXE no process matches, which looked like a start that died.
settle_pid() {
	local exe=$1 word=$2 pidfile=$3 i p
	for ((i = 0; i < 50; i++)); do
		if p=$(find_proc "$exe" "$word"); then
			echo "$p" >"$pidfile"
			return 0
		fi
		sleep 0.2
	done
}

k3s_pid() { find_proc "$BIN/k3s" server "$RUN/k3s.pid"; }
REGISTRY_BIN=$(command -v docker-registry || echo /usr/bin/docker-registry)
registry_pid() { find_proc "$REGISTRY_BIN" "$STATE/registry/config.yml" "$RUN/registry.pid"; }
registry_answers() { curl -fsS -o /dev/null --max-time 3 "http://$REGISTRY/v2/" 2>/dev/null; }

kc() { KUBECONFIG=$KUBECONFIG_PATH "$BIN/kubectl" "$@"; }

node_ready() {
	[ -f "$KUBECONFIG_PATH" ] || return 1
	[ "$(kc get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# stop_pid PID [SECONDS] sends SIGTERM, waits, then SIGKILL.
stop_pid() {
	local pid=$1 wait=${2:-30} i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < wait * 5; i++)); do
		[ -d "/proc/$pid" ] || return 0
		sleep 0.2
	done
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 25; i++)); do
		[ -d "/proc/$pid" ] || return 0
		sleep 0.2
	done
}

# ------------------------------------------------------------- registry ----

start_registry() {
	if registry_pid >/dev/null; then
		local i
		for ((i = 0; i < 20; i++)); do
			registry_answers && return 0
			sleep 0.5
		done
		die "the registry runs but does not answer on $REGISTRY; see $LOGS/registry.log"
	fi
	if registry_answers; then
		die "something else answers on $REGISTRY; set FAULTLINE_REGISTRY_PORT to a free port"
	fi
	mkdir -p "$STATE/registry/data" "$LOGS"
	cat >"$STATE/registry/config.yml" <<YAML
# Written by scripts/k3s.sh: the cluster's image registry, on loopback only.
version: 0.1
log:
  fields:
    service: faultline-registry
storage:
  filesystem:
    rootdirectory: $STATE/registry/data
  delete:
    enabled: true
http:
  addr: $REGISTRY
  headers:
    X-Content-Type-Options: [nosniff]
YAML
	log "starting the registry on $REGISTRY (log: $LOGS/registry.log)"
	setsid nohup "$REGISTRY_BIN" serve "$STATE/registry/config.yml" >>"$LOGS/registry.log" 2>&1 </dev/null 8>&- 9>&- &
	echo $! >"$RUN/registry.pid"
	settle_pid "$REGISTRY_BIN" "$STATE/registry/config.yml" "$RUN/registry.pid"
	local i
	for ((i = 0; i < 40; i++)); do
		registry_answers && return 0
		registry_pid >/dev/null || break
		sleep 0.5
	done
	tail -5 "$LOGS/registry.log" >&2
	die "the registry did not come up on $REGISTRY; see $LOGS/registry.log"
}

stop_registry() {
	local pid
	while pid=$(registry_pid); do
		log "stopping the registry (pid $pid)"
		stop_pid "$pid" 10
	done
	rm -f "$RUN/registry.pid"
}

# ---------------------------------------------------------------- k3s -----

# Sysctls the kubelet and kube-proxy set on the host; their values from before
# the first `up` are saved and put back by `down`.
SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.netfilter.nf_conntrack_max"

save_sysctls() {
	[ -f "$RUN/sysctl.saved" ] && return 0
	local k
	for k in $SYSCTLS; do
		printf '%s=%s\n' "$k" "$(sysctl -n "$k" 2>/dev/null)" 
	done >"$RUN/sysctl.saved.new"
	mv "$RUN/sysctl.saved.new" "$RUN/sysctl.saved"
}

restore_sysctls() {
	[ -f "$RUN/sysctl.saved" ] || return 0
	local line
	while IFS= read -r line; do
		[ -n "${line#*=}" ] && sysctl -q -w "$line" >/dev/null 2>&1 || true
	done <"$RUN/sysctl.saved"
	rm -f "$RUN/sysctl.saved"
}

write_config() {
	mkdir -p "$DATA/agent/etc/containerd" "$DATA/agent/images" "$CNI_CONF" "$KUBELET_DIR" "$LOGS" "$RUN"
	# The containerd k3s embeds, configured here rather than by k3s's template:
	# runc and the shim from the cache, Debian's CNI plugins, and
	# restrict_oom_score_adj because these machines lack CAP_SYS_RESOURCE (runc
	# fails to lower oom_score_adj without it).
	cat >"$DATA/agent/etc/containerd/config-v3.toml.tmpl" <<TOML
# Written by scripts/k3s.sh; k3s renders it into config.toml.
version = 3
root = {{ printf "%q" .NodeConfig.Containerd.Root }}
state = {{ printf "%q" .NodeConfig.Containerd.State }}

[grpc]
  address = {{ printf "%q" .NodeConfig.Containerd.Address }}

[plugins.'io.containerd.internal.v1.opt']
  path = {{ printf "%q" .NodeConfig.Containerd.Opt }}

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "10010"

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  restrict_oom_score_adj = true

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ["$CNI_BIN"]
  conf_dir = "$CNI_CONF"

[plugins.'io.containerd.cri.v1.runtime'.containerd]
  default_runtime_name = "runc"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  BinaryName = "$BIN/runc"
  SystemdCgroup = false

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  disable_snapshot_annotations = true

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "$PAUSE_IMAGE"

[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = {{ printf "%q" .NodeConfig.Containerd.Registry }}
TOML
	# One bridge for the node's Pods; no overlay network (one node).
	cat >"$CNI_CONF/10-faultline.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "faultline-k3s",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
	# Plain HTTP to the loopback registry.
	cat >"$STATE/registries.yaml" <<YAML
# Written by scripts/k3s.sh: pull from the local registry over plain HTTP.
mirrors:
  "$REGISTRY":
    endpoint:
      - "http://$REGISTRY"
  "localhost:$REGISTRY_PORT":
    endpoint:
      - "http://$REGISTRY"
YAML
	cmp -s "$CACHE/images/pause.tar" "$DATA/agent/images/pause.tar" || cp "$CACHE/images/pause.tar" "$DATA/agent/images/pause.tar"
}

# kill_leftovers ends what a killed k3s left running: its containerd (normally
# ended with it) and, with `all`, every container of its Pods and their shims.
kill_leftovers() {
	local pid
	while pid=$(find_proc "$BIN/k3s" "$DATA/agent/etc/containerd/config.toml"); do
		log "stopping a leftover containerd (pid $pid)"
		stop_pid "$pid" 10
	done
	[ "${1:-}" = all ] || return 0
	# The Pods' processes, by the kubelet's cgroups, then the shims.
	local f n=0
	for f in $(find /sys/fs/cgroup/pids/kubepods /sys/fs/cgroup/pids/kubepods.slice -name cgroup.procs 2>/dev/null); do
		for pid in $(cat "$f" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null && n=$((n + 1))
		done
	done
	[ $n -gt 0 ] && log "killed $n processes of the cluster's Pods"
	local shim
	for shim in "$BIN/containerd-shim-runc-v2" /usr/bin/containerd-shim-runc-v2; do
		while pid=$(find_proc "$shim" "$CONTAINERD_SOCK"); do
			stop_pid "$pid" 5
		done
	done
	return 0
}

start_k3s() {
	write_config
	save_sysctls
	kill_leftovers
	local args=(
		server
		--node-name "$NODE"
		--data-dir "$DATA"
		--https-listen-port "$API_PORT"
		--write-kubeconfig "$KUBECONFIG_PATH"
		--write-kubeconfig-mode 0600
		--private-registry "$STATE/registries.yaml"
		--pause-image "$PAUSE_IMAGE"
		--cluster-cidr "$CLUSTER_CIDR"
		--service-cidr "$SERVICE_CIDR"
		--flannel-backend none
		--disable traefik,servicelb,metrics-server,local-storage,coredns
		--disable-helm-controller
		--disable-cloud-controller
		--kubelet-arg "root-dir=$KUBELET_DIR"
		--kubelet-arg fail-cgroupv1=false
		--kubelet-arg "pod-max-pids=$POD_MAX_PIDS"
		--kubelet-arg "eviction-hard=memory.available<100Mi,nodefs.available<2%,imagefs.available<2%"
		--kubelet-arg image-gc-high-threshold=99
		--kubelet-arg image-gc-low-threshold=98
		--kube-proxy-arg conntrack-max-per-core=0
		--kube-proxy-arg conntrack-tcp-timeout-established=0
		--kube-proxy-arg conntrack-tcp-timeout-close-wait=0
		--kube-proxy-arg iptables-localhost-nodeports=false
	)
	log "starting k3s (log: $LOGS/k3s.log)"
	echo "---- $(date -u +%FT%TZ) k3s.sh up" >>"$LOGS/k3s.log"
	PATH="$BIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		setsid nohup "$BIN/k3s" "${args[@]}" >>"$LOGS/k3s.log" 2>&1 </dev/null 8>&- 9>&- &
	echo $! >"$RUN/k3s.pid"
	settle_pid "$BIN/k3s" server "$RUN/k3s.pid"
}

wait_ready() {
	local limit=${FAULTLINE_K3S_WAIT:-300} start=$SECONDS
	while :; do
		if ! k3s_pid >/dev/null; then
			tail -20 "$LOGS/k3s.log" >&2
			die "k3s exited; see $LOGS/k3s.log"
		fi
		if node_ready && kc -n default get serviceaccount default >/dev/null 2>&1; then
			return 0
		fi
		[ $((SECONDS - start)) -lt "$limit" ] || die "the node is not Ready after ${limit}s; see $LOGS/k3s.log"
		sleep 2
	done
}

# --------------------------------------------------------- host cleanup ----

# unmount_under DIR... unmounts DIR and everything mounted below it, deepest
# first (the kubelet also bind-mounts its root dir onto itself).
unmount_under() {
	local dir m
	for dir in "$@"; do
		awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
		done
	done
}

# clean_iptables removes the chains kube-proxy, the network policy controller
# and the CNI plugins made (KUBE-*, CNI-*), the rules that jump to them and
# the network policy controller's ACCEPT rules (commented KUBE-ROUTER), rule
# by rule: Docker's chains and rules stay as they are.
clean_iptables() {
	local ipt t rule chain
	for ipt in iptables ip6tables; do
		command -v "$ipt" >/dev/null || continue
		for t in filter nat mangle raw; do
			"$ipt" -t "$t" -S >/dev/null 2>&1 || continue
			{ "$ipt" -t "$t" -S | grep -E '^-A [A-Z]+ .*(-j (KUBE-|CNI-)|KUBE-ROUTER)' | grep -vE '^-A (KUBE-|CNI-)' || true; } |
				while read -r rule; do
					eval "$ipt -t $t ${rule/-A/-D}" 2>/dev/null || true
				done
			for chain in $("$ipt" -t "$t" -S | awk '/^-N (KUBE-|CNI-)/ { print $2 }'); do
				"$ipt" -t "$t" -F "$chain" 2>/dev/null || true
			done
			for chain in $("$ipt" -t "$t" -S | awk '/^-N (KUBE-|CNI-)/ { print $2 }'); do
				"$ipt" -t "$t" -X "$chain" 2>/dev/null || true
			done
		done
	done
	if command -v ipset >/dev/null; then
		for chain in $(ipset list -n 2>/dev/null | grep -E '^(KUBE-|kube-router)'); do
			ipset destroy "$chain" 2>/dev/null || true
		done
	fi
}

clean_host() {
	unmount_under "$KUBELET_DIR" /run/k3s "$DATA/agent/containerd"
	# Pod network namespaces (containerd names them cni-*; Docker keeps its
	# own under /run/docker/netns).
	local ns
	for ns in /run/netns/cni-*; do
		[ -e "$ns" ] || continue
		umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null || true
		rm -f "$ns"
	done
	ip link delete "$BRIDGE" 2>/dev/null || true
	clean_iptables
	# The kubelet's cgroups, deepest first.
	local c
	for c in /sys/fs/cgroup/*/kubepods; do
		[ -d "$c" ] || continue
		find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	restore_sysctls
}

# ------------------------------------------------------------- commands ----

lock_state() {
	mkdir -p "$STATE" "$RUN" "$LOGS"
	exec 9>"$STATE/.lock"
	flock 9
}

print_where() {
	cat >&2 <<TXT
k3s.sh: cluster up: node $NODE, API https://127.0.0.1:$API_PORT
k3s.sh: kubeconfig: $KUBECONFIG_PATH
k3s.sh: registry: $REGISTRY (push: docker push $REGISTRY/NAME:TAG; Pods pull $REGISTRY/NAME:TAG)
TXT
}

cmd_up() {
	need_root up
	lock_state
	if k3s_pid >/dev/null && node_ready && registry_answers && registry_pid >/dev/null; then
		print_where
		return 0
	fi
	cmd_build
	start_registry
	if ! k3s_pid >/dev/null; then
		start_k3s
	fi
	wait_ready
	print_where
}

cmd_down() {
	need_root down
	lock_state
	local pid
	while pid=$(k3s_pid); do
		log "stopping k3s (pid $pid)"
		stop_pid "$pid" 30
	done
	rm -f "$RUN/k3s.pid"
	kill_leftovers all
	clean_host
	stop_registry
	log "down"
}

cmd_purge() {
	cmd_down
	log "deleting $STATE"
	rm -rf "$STATE"
}

cmd_status() {
	local pid ok=0
	if pid=$(k3s_pid); then
		echo "k3s: running (pid $pid), log $LOGS/k3s.log"
		if node_ready; then
			echo "node: $NODE Ready"
		else
			echo "node: $NODE not Ready"
			ok=3
		fi
	else
		echo "k3s: not running"
		ok=3
	fi
	if registry_answers; then
		if pid=$(registry_pid); then
			echo "registry: $REGISTRY (pid $pid)"
		else
			echo "registry: something else answers on $REGISTRY"
			ok=3
		fi
	else
		echo "registry: not answering on $REGISTRY"
		ok=3
	fi
	echo "kubeconfig: $KUBECONFIG_PATH"
	if [ -x "$BIN/k3s" ]; then
		echo "cache: $CACHE (binaries and images $(du -shc "$BIN" "$CACHE/images" 2>/dev/null | tail -1 | cut -f1))"
	else
		echo "cache: $CACHE (not built)"
	fi
	return $ok
}

cmd_env() {
	printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_PATH"
	printf 'export FAULTLINE_K8S_REGISTRY=%q\n' "$REGISTRY"
	printf 'export FAULTLINE_K3S_BIN=%q\n' "$BIN"
}

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2; }

case "${1:-}" in
build) cmd_build ;;
up) cmd_up ;;
down) cmd_down ;;
purge) cmd_purge ;;
status) cmd_status ;;
env) cmd_env ;;
kubectl)
	shift
	kc "$@"
	;;
-h | --help | help) usage ;;
*) usage ;;
esac
