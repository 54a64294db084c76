#!/usr/bin/env bash
# k3s-smoke.sh checks that the cluster scripts/k3s.sh runs does what the
# Kubernetes backend relies on, and prints what it saw: an image built here,
# pushed to the registry and pulled by a Pod; a hardened Pod (non-root,
# read-only root, tmpfs /tmp, no capabilities, seccomp, no token); exec, with
# and without a TTY; a Job to completion; a deny-all NetworkPolicy cutting a
# Pod's egress; a memory limit ending in OOMKilled; activeDeadlineSeconds; the
# portal's manifests (deploy/kubernetes) validated by the API server and, with
# --portal, deployed for real with the portal's RBAC exercised.
#
# Usage: scripts/k3s-smoke.sh [--portal]   (after scripts/k3s.sh up)
# Everything it makes is in namespace faultline-smoke (and, with --portal,
# faultline and faultline-sandboxes), deleted at the end.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
eval "$("$here/k3s.sh" env)"
"$here/k3s.sh" status >/dev/null || { "$here/k3s.sh" status; echo "k3s-smoke: run scripts/k3s.sh up first" >&2; exit 1; }
KUBECTL=$FAULTLINE_K3S_BIN/kubectl
k() { "$KUBECTL" "$@"; }

portal=
[ "${1:-}" = --portal ] && portal=1

NS=faultline-smoke
fails=0
pass() { printf 'PASS  %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; fails=$((fails + 1)); }
note() { printf '      %s\n' "$*"; }
check() { # check DESCRIPTION COMMAND...
	local d=$1
	shift
	if "$@" >/dev/null 2>&1; then pass "$d"; else fail "$d"; fi
}

work=$(mktemp -d)
made_ns=
cleanup() {
	k delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true
	if [ -n "$portal" ]; then
		k delete -k "$work/overlay" --ignore-not-found --wait=true --timeout=120s >/dev/null 2>&1 || true
		k delete pv faultline-smoke-data --ignore-not-found >/dev/null 2>&1 || true
		rm -rf "${volume:-}"
	fi
	local n
	for n in $made_ns; do
		k delete namespace "$n" --ignore-not-found --wait=false >/dev/null 2>&1 || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

if k get namespace "$NS" >/dev/null 2>&1; then
	k delete namespace "$NS" --wait=true --timeout=120s >/dev/null
fi
k create namespace "$NS" >/dev/null
k label namespace "$NS" pod-security.kubernetes.io/enforce=restricted >/dev/null

# portal_checks deploys deploy/kubernetes for real with a portal image built
# from this checkout (its Docker backend finds no engine in the Pod, so lessons
# serve and labs say they are unavailable), its database on a hand-made
# hostPath volume, and exercises the portal's ServiceAccount and Role.
portal_checks() {
	local bin=$work/portal/faultline tag
	mkdir -p "$work/portal"
	if ! (cd "$root" && CGO_ENABLED=1 go build -trimpath -tags 'netgo osusergo' \
		-ldflags '-s -w -linkmode external -extldflags -static' -o "$bin" ./cmd/faultline) >"$work/go.log" 2>&1; then
		cat "$work/go.log"
		fail "building the portal"
		return 0
	fi
	printf 'FROM scratch\nCOPY faultline /faultline\nUSER 65532:65532\nENTRYPOINT ["/faultline"]\n' >"$work/portal/Dockerfile"
	tag=$FAULTLINE_K8S_REGISTRY/faultline-smoke/portal:$(sha256sum "$bin" | cut -c1-12)
	docker build -q -t "$tag" "$work/portal" >/dev/null 2>"$work/build.err" || { cat "$work/build.err"; return 1; }
	docker push -q "$tag" >/dev/null
	docker rmi "$tag" >/dev/null
	mkdir -p "$work/overlay"
	cat >"$work/overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$work/overlay" "$root/deploy/kubernetes")
images:
  - name: registry.example.org/faultline/portal
    newName: ${tag%:*}
    newTag: ${tag##*:}
YAML
	# This cluster has no volume provisioner: a hostPath volume bound to the
	# portal's claim, owned by the portal's user.
	volume=$(mktemp -d /var/tmp/faultline-smoke-data.XXXXXX)
	chown 65532:65532 "$volume"
	cat <<YAML | k apply -f - >/dev/null
apiVersion: v1
kind: PersistentVolume
metadata: {name: faultline-smoke-data}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {namespace: faultline, name: faultline-data}
  hostPath: {path: $volume, type: Directory}
YAML
	k apply -k "$work/overlay" >/dev/null
	if k -n faultline rollout status deploy/faultline --timeout=180s >/dev/null; then
		pass "portal Deployment available (image $tag)"
	else
		fail "portal Deployment not available"
		k -n faultline describe pods | tail -20
		k -n faultline logs deploy/faultline --tail=20 2>&1 || true
		return 0
	fi
	local logs ip
	logs=$(k -n faultline logs deploy/faultline 2>&1)
	check "portal printed its one-time setup link" grep -q '/setup?token=' <<<"$logs"
	check "portal's database on the volume" test -s "$volume/faultline.db"
	ip=$(k -n faultline get service faultline -o 'jsonpath={.spec.clusterIP}')
	check "portal answers through its Service ($ip:80)" curl -fsS -o /dev/null --max-time 5 "http://$ip/"

	local sa=system:serviceaccount:faultline:faultline can
	can() { [ "$(k auth can-i --as "$sa" "$@" 2>/dev/null)" = yes ]; }
	check "portal SA may create pods in faultline-sandboxes" can create pods -n faultline-sandboxes
	check "portal SA may exec in faultline-sandboxes" can create pods/exec -n faultline-sandboxes
	check "portal SA may create networkpolicies in faultline-sandboxes" can create networkpolicies.networking.k8s.io -n faultline-sandboxes
	if can create pods -n faultline; then fail "portal SA may create pods in its own namespace"; else pass "portal SA may not create pods in faultline"; fi
	if can get secrets -n faultline-sandboxes; then fail "portal SA may read secrets"; else pass "portal SA may not read secrets"; fi
	if can list nodes; then fail "portal SA may list nodes"; else pass "portal SA may not list nodes"; fi

	# A sandbox made as the portal's ServiceAccount: the namespace's
	# policies apply (restricted Pod Security, quota through the
	# LimitRange's defaults, no token, no network).
	hardened_pod sbx 'exec sleep 3600' 64Mi | sed "s/namespace: $NS/namespace: faultline-sandboxes/" | k --as "$sa" apply -f - >/dev/null
	if k -n faultline-sandboxes wait pod/sbx --for=condition=Ready --timeout=120s >/dev/null; then
		pass "portal SA started a sandbox Pod"
	else
		fail "portal SA could not start a sandbox Pod"
	fi
	check "portal SA execs into it" k --as "$sa" -n faultline-sandboxes exec sbx -- true
	check "sandbox has no token (namespace default)" k -n faultline-sandboxes exec sbx -- sh -c '! test -e /var/run/secrets/kubernetes.io'
	local portal_ip
	portal_ip=$(k -n faultline get pod -l app.kubernetes.io/name=faultline -o 'jsonpath={.items[0].status.podIP}')
	if k -n faultline-sandboxes exec sbx -- sh -c "nc -w 2 $portal_ip 8080 </dev/null >/dev/null 2>&1"; then
		fail "a sandbox reaches the portal Pod $portal_ip:8080"
	else
		pass "a sandbox cannot reach the portal Pod"
	fi
	local denied
	denied=$(printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: rooty, namespace: faultline-sandboxes}\nspec:\n  containers: [{name: c, image: %s, command: [sleep, "1"]}]\n' "$IMAGE" |
		k --as "$sa" apply -f - 2>&1 || true)
	check "Pod Security refuses a Pod without the restricted settings" grep -q 'violates PodSecurity "restricted' <<<"$denied"
	check "portal SA deletes the sandbox" k --as "$sa" -n faultline-sandboxes delete pod sbx --wait=false
}

# ---- an image built here, pushed to the registry -------------------------
busybox=${FAULTLINE_BUSYBOX:-/bin/busybox}
cp "$busybox" "$work/busybox"
cat >"$work/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
USER 65534:65534
CMD ["sh"]
DOCKERFILE
IMAGE=$FAULTLINE_K8S_REGISTRY/faultline-smoke/busybox:$(sha256sum "$work/busybox" | cut -c1-12)
t0=$(date +%s.%N)
docker build -q -t "$IMAGE" "$work" >/dev/null 2>"$work/build.err" || { cat "$work/build.err"; exit 1; }
docker push -q "$IMAGE" >/dev/null
docker rmi "$IMAGE" >/dev/null
note "image $IMAGE built and pushed in $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)")s"

# hardened_pod NAME [extra container YAML indented 4] prints a Pod that runs
# CMD as the backend's Pods will: non-root, read-only root, tmpfs /tmp, no
# capabilities, RuntimeDefault seccomp, no token, limits.
hardened_pod() {
	local name=$1 cmd=$2 mem=${3:-64Mi} extra=${4:-}
	cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: $NS
  labels: {faultline.kind: smoke, app: $name}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: 1
$extra
  securityContext:
    runAsNonRoot: true
    runAsUser: 65534
    runAsGroup: 65534
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: main
    image: $IMAGE
    imagePullPolicy: Always
    command: ["sh", "-c", "$cmd"]
    resources:
      requests: {cpu: 50m, memory: $mem}
      limits: {cpu: "1", memory: $mem, ephemeral-storage: 64Mi}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    volumeMounts:
    - {name: tmp, mountPath: /tmp}
  volumes:
  - name: tmp
    emptyDir: {medium: Memory, sizeLimit: 16Mi}
YAML
}

# ---- a Pod pulled from the registry, and exec --------------------------
t0=$(date +%s.%N)
hardened_pod hello 'mkdir -p /tmp/www && echo hello >/tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www' | k apply -f - >/dev/null
if k -n "$NS" wait pod/hello --for=condition=Ready --timeout=120s >/dev/null; then
	pass "Pod from $FAULTLINE_K8S_REGISTRY Running (create to Ready $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)")s)"
else
	fail "Pod from the registry did not become Ready"
	k -n "$NS" describe pod hello | tail -20
	exit 1
fi
imageid=$(k -n "$NS" get pod hello -o 'jsonpath={.status.containerStatuses[0].imageID}')
note "imageID $imageid"
check "image pulled from the local registry" grep -q "^$FAULTLINE_K8S_REGISTRY/faultline-smoke/busybox@sha256:" <<<"$imageid"

out=$(k -n "$NS" exec hello -- sh -c 'id; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; touch /rootfs-write 2>&1; touch /tmp/ok && echo tmp-writable; grep " /tmp " /proc/mounts; ls /var/run/secrets/kubernetes.io 2>&1' 2>&1 || true)
printf '%s\n' "$out" | sed 's/^/      exec: /'
check "exec runs as uid 65534" grep -q 'uid=65534' <<<"$out"
check "no capabilities" grep -qE 'CapEff:[[:space:]]+0000000000000000' <<<"$out"
check "no new privileges" grep -qE 'NoNewPrivs:[[:space:]]+1' <<<"$out"
check "seccomp filter on" grep -qE 'Seccomp:[[:space:]]+2' <<<"$out"
check "root filesystem read-only" grep -q 'Read-only file system' <<<"$out"
check "/tmp a writable tmpfs" grep -q 'tmp-writable' <<<"$out"
check "/tmp is tmpfs" grep -q ' /tmp tmpfs ' <<<"$out"
check "no service account token" grep -q 'No such file' <<<"$out"

# exec with a TTY: kubectl needs a terminal, which script(1) provides.
tty_out=$(script -qec "stty cols 97 rows 31; $KUBECTL -n $NS exec -it hello -- sh -c 'tty; stty size'" /dev/null 2>&1 | tr -d '\r\000' || true)
printf '%s\n' "$tty_out" | sed 's/^/      tty: /'
check "exec -it gets a pty" grep -q '/dev/pts/' <<<"$tty_out"
check "exec -it passes the terminal size" grep -q '^31 97' <<<"$tty_out"

# Files in and out with tar through exec, as kubectl cp does.
echo "from the host $RANDOM" >"$work/in.txt"
tar -C "$work" -cf - in.txt | k -n "$NS" exec -i hello -- tar -C /tmp -xf -
back=$(k -n "$NS" exec hello -- tar -C /tmp -cf - in.txt | tar -xOf - in.txt)
check "files in and out through exec and tar" [ "$back" = "$(cat "$work/in.txt")" ]

# ---- a Job to completion ---------------------------------------------------
cat <<YAML | k apply -f - >/dev/null
apiVersion: batch/v1
kind: Job
metadata: {name: once, namespace: $NS}
spec:
  backoffLimit: 0
  template:
    metadata: {labels: {faultline.kind: smoke}}
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 65534, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: main
        image: $IMAGE
        command: ["sh", "-c", "echo job done"]
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
YAML
if k -n "$NS" wait job/once --for=condition=Complete --timeout=120s >/dev/null; then
	pass "Job completed: $(k -n "$NS" logs job/once)"
else
	fail "Job did not complete"
fi

# ---- network policy -------------------------------------------------------
hardened_pod client 'exec sleep 3600' | k apply -f - >/dev/null
k -n "$NS" wait pod/client --for=condition=Ready --timeout=120s >/dev/null
server_ip=$(k -n "$NS" get pod hello -o 'jsonpath={.status.podIP}')
client_ip=$(k -n "$NS" get pod client -o 'jsonpath={.status.podIP}')
node_ip=$(k get node -o 'jsonpath={.items[0].status.addresses[?(@.type=="InternalIP")].address}')
api_ip=$(k -n default get service kubernetes -o 'jsonpath={.spec.clusterIP}')
# busybox's static wget crashes resolving the "http" service name; nc does
# the HTTP request instead.
http_from() { # http_from POD HOST: GET / on HOST:8080 from POD answers 200
	k -n "$NS" exec "$1" -- sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 $2 8080" 2>/dev/null | grep -q '200 OK'
}
reach() { http_from client "$1"; }
reach_tcp() { # reach_tcp HOST PORT: a TCP connect from the client Pod
	k -n "$NS" exec client -- sh -c "nc -w 2 $1 $2 </dev/null >/dev/null 2>&1 && echo open" 2>/dev/null | grep -q open
}
# A new Pod's traffic to other Pods passes once the network policy controller
# has synced it (the host's FORWARD policy is DROP, Docker's).
t0=$(date +%s)
reached=
for _ in $(seq 1 30); do
	if reach "$server_ip"; then reached=1; break; fi
	sleep 1
done
if [ -n "$reached" ]; then
	pass "before any policy: client reaches server Pod $server_ip:8080 (after $(($(date +%s) - t0))s)"
else
	fail "before any policy: client does not reach server Pod $server_ip:8080 in 30s"
fi
check "before any policy: client reaches the API server $api_ip:443" reach_tcp "$api_ip" 443
# Deny all egress and ingress of every Pod in the namespace.
cat <<YAML | k apply -f - >/dev/null
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: $NS}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
YAML
t0=$(date +%s)
blocked=
for _ in $(seq 1 30); do
	if ! reach "$server_ip"; then blocked=1; break; fi
	sleep 1
done
if [ -n "$blocked" ]; then
	pass "deny-all: client's egress to the server Pod refused (after $(($(date +%s) - t0))s)"
else
	fail "deny-all: client still reaches the server Pod after 30s (network policy not enforced)"
fi
if reach_tcp "$api_ip" 443; then fail "deny-all: client still reaches the API server service"; else pass "deny-all: client cannot reach the API server service $api_ip:443"; fi
if reach_tcp "$node_ip" 6443; then fail "deny-all: client still reaches the node $node_ip:6443"; else pass "deny-all: client cannot reach the node $node_ip:6443"; fi
if reach_tcp 10.42.0.1 10250; then fail "deny-all: client still reaches the kubelet via the bridge 10.42.0.1:10250"; else pass "deny-all: client cannot reach the kubelet via the pod gateway"; fi
check "deny-all: a Pod still reaches itself on its own address" http_from hello "$server_ip"
check "deny-all: a Pod still reaches itself on loopback" http_from hello 127.0.0.1
# A Pod started while the policy is in force: is it cut off from its first
# moment, before the policy controller has synced it?
hardened_pod late 'exec sleep 3600' | k apply -f - >/dev/null
k -n "$NS" wait pod/late --for=condition=Ready --timeout=120s >/dev/null
early=$(k -n "$NS" exec late -- sh -c "for t in '$server_ip 8080' '$api_ip 443' '$node_ip 6443'; do nc -w 1 \$t </dev/null >/dev/null 2>&1 && echo \"open \$t\"; done" 2>/dev/null || true)
if [ -z "$early" ]; then
	pass "deny-all: a Pod started under the policy is cut off at once"
else
	fail "deny-all: a Pod started under the policy reached, right after Ready: $(tr '\n' ';' <<<"$early")"
fi
k -n "$NS" delete networkpolicy deny-all >/dev/null
restored=
for _ in $(seq 1 30); do
	if reach "$server_ip"; then restored=1; break; fi
	sleep 1
done
check "policy removed: traffic flows again" [ -n "$restored" ]

# ---- limits: processes and disk ---------------------------------------------
# The Pod spec has no process limit: the kubelet's podPidsLimit (k3s.sh sets
# 256) caps every Pod. Forks past it fail; the Pod lives on.
out=$(k -n "$NS" exec client -- sh -c 'i=0; while [ $i -lt 400 ]; do sleep 20 & i=$((i+1)); done 2>&1 | tail -1; kill $(jobs -p) 2>/dev/null; true' 2>&1 || true)
note "400 background processes: $out"
check "processes capped per Pod (fork fails)" grep -qiE "can't fork|resource temporarily unavailable" <<<"$out"
out=$(k -n "$NS" exec client -- sh -c 'dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>&1; rm -f /tmp/fill' 2>&1 || true)
note "64 MiB into the 16 MiB /tmp: $(tr '\n' ' ' <<<"$out")"
check "disk fill stops at the /tmp size" grep -q 'No space left on device' <<<"$out"

# ---- limits: memory and deadline -------------------------------------------
# dd holds a 64 MiB buffer: over the 32 MiB limit. As the container's main
# process (exec) and as a child of the shell.
hardened_pod oom-main 'exec dd if=/dev/zero of=/dev/null bs=64M count=1' 32Mi | k apply -f - >/dev/null
hardened_pod oom-child 'dd if=/dev/zero of=/dev/null bs=64M count=1; echo dd exited $?; sleep 1' 32Mi | k apply -f - >/dev/null
hardened_pod deadline 'exec sleep 600' 16Mi '  activeDeadlineSeconds: 5' | k apply -f - >/dev/null
status_of() { # the fields a backend reads from a finished Pod
	k -n "$NS" get pod "$1" -o 'jsonpath=phase={.status.phase} reason={.status.reason} message={.status.message} | terminated: reason={.status.containerStatuses[0].state.terminated.reason} exitCode={.status.containerStatuses[0].state.terminated.exitCode} signal={.status.containerStatuses[0].state.terminated.signal} message={.status.containerStatuses[0].state.terminated.message}'
}
wait_phase() { # wait_phase POD: until Succeeded or Failed
	local i p
	for i in $(seq 1 90); do
		p=$(k -n "$NS" get pod "$1" -o 'jsonpath={.status.phase}')
		case "$p" in Succeeded | Failed) return 0 ;; esac
		sleep 1
	done
	return 1
}
for p in oom-main oom-child deadline; do
	wait_phase "$p" || fail "$p did not finish"
	# The container's terminated state can lag the phase by a moment.
	for _ in 1 2 3 4 5; do
		s=$(status_of "$p")
		grep -q 'terminated: reason=[A-Za-z]' <<<"$s" && break
		sleep 1
	done
	note "$p: $s"
done
check "memory hog as main process: terminated reason OOMKilled" grep -q 'terminated: reason=OOMKilled' <<<"$(status_of oom-main)"
check "memory hog as a child: terminated reason OOMKilled" grep -q 'terminated: reason=OOMKilled' <<<"$(status_of oom-child)"
note "oom-child log: $(k -n "$NS" logs oom-child 2>&1 | tr '\n' ' ')"
check "activeDeadlineSeconds: phase Failed, reason DeadlineExceeded" grep -q 'phase=Failed reason=DeadlineExceeded' <<<"$(status_of deadline)"

# ---- the portal's manifests --------------------------------------------------
# A server-side dry run cannot create namespaces for the objects in them, so
# the two namespaces are made for real (and removed at the end if new).
for n in faultline faultline-sandboxes; do
	k get namespace "$n" >/dev/null 2>&1 || made_ns+=" $n"
done
k apply -f "$root/deploy/kubernetes/namespaces.yaml" >/dev/null
if out=$(k apply --dry-run=server -k "$root/deploy/kubernetes" 2>&1); then
	pass "deploy/kubernetes accepted by the API server (dry run)"
	printf '%s\n' "$out" | sed 's/^/      /'
else
	fail "deploy/kubernetes rejected by the API server"
	printf '%s\n' "$out"
fi

if [ -n "$portal" ]; then
	portal_checks
fi

if [ $fails -gt 0 ]; then
	echo "k3s-smoke: $fails checks failed"
	exit 1
fi
echo "k3s-smoke: all checks passed"
