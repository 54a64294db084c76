package sandbox

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// netLab is testLab with a private network, as lab.yaml
// sandbox: {network: private} loads.
func netLab() *faultline.Lab {
	lab := testLab()
	lab.Slug = "net-lab"
	lab.Network = faultline.LabNetworkPrivate
	return lab
}

// MustNetworkManager is MustManager that also removes the sandbox networks
// of its scope at the end (TestMain's sweep keeps objects without the test
// label).
func MustNetworkManager(t *testing.T, st faultline.SandboxStore) *Manager {
	t.Helper()
	m := MustManager(t, st)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, c := range mustList(t, m) {
			testEngine.removeContainer(c)
		}
		if _, err := m.removeOrphanNetworks(ctx, nil); err != nil {
			t.Errorf("cleanup networks: %v", err)
		}
	})
	return m
}

func mustList(t *testing.T, m *Manager) []string {
	t.Helper()
	cs, err := testEngine.listContainers(context.Background(), m.match(nil))
	if err != nil {
		t.Errorf("list containers: %v", err)
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

// mustNetwork returns the named network; ok is false when it does not exist.
func mustNetwork(t *testing.T, ctx context.Context, name string) (backend.Network, bool) {
	t.Helper()
	nets, err := testEngine.b.ListNetworks(ctx, nil)
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	for _, nw := range nets {
		if nw.Name == name {
			return nw, true
		}
	}
	return backend.Network{}, false
}

// mustIP returns the sandbox container's address on its one network
// interface besides loopback, as the container itself sees it.
func mustIP(t *testing.T, ctx context.Context, containerID string) string {
	t.Helper()
	code, out := MustExec(t, containerID, "ip", "-4", "-o", "addr", "show")
	if code != 0 {
		t.Fatalf("ip addr in %s: exit %d: %s", short(containerID), code, out)
	}
	var addrs []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[1] != "lo" && f[2] == "inet" {
			addr, _, _ := strings.Cut(f[3], "/")
			addrs = append(addrs, addr)
		}
	}
	if len(addrs) != 1 {
		t.Fatalf("container %s has addresses %q besides loopback, want one:\n%s", short(containerID), addrs, out)
	}
	return addrs[0]
}

// mustInterfaces returns the container's network interfaces.
func mustInterfaces(t *testing.T, containerID string) []string {
	t.Helper()
	code, out := MustExec(t, containerID, "cat", "/proc/net/dev")
	if code != 0 {
		t.Fatalf("/proc/net/dev in %s: exit %d: %s", short(containerID), code, out)
	}
	var ifaces []string
	for _, line := range strings.Split(out, "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && !strings.Contains(name, "|") {
			ifaces = append(ifaces, strings.TrimSpace(name))
		}
	}
	return ifaces
}

// serveHello is a shell snippet starting a server on port 7000, in the
// background and for good, that answers every connection with hello-$2.
const serveHello = `nc -ll -p 7000 -e echo "hello-$2" </dev/null >/dev/null 2>&1 & `

// connectLoop is a shell snippet that connects to $1 port 7000 until it gets
// an answer (the server may not be listening yet), at most 100 tries, and
// prints it.
const connectLoop = `i=0; while [ $i -lt 100 ]; do i=$((i+1)); out=$(nc -w 3 "$1" 7000 </dev/null 2>&1) && [ -n "$out" ] && { echo "got:$out"; exit 0; }; sleep 0.1; done; echo "last: $out"; exit 1`

func TestPrivateNetworks(t *testing.T) {
	st := newMemStore()
	m := MustNetworkManager(t, st)
	ctx := MustContext(t, 5*time.Minute)
	lab := netLab()
	const ada, bob = 8101, 8102

	sbA, err := m.Start(ctx, ada, lab, learnerFiles, nil)
	if err != nil {
		t.Fatalf("Start ada: %v", err)
	}
	sbB, err := m.Start(ctx, bob, lab, learnerFiles, nil)
	if err != nil {
		t.Fatalf("Start bob: %v", err)
	}
	netA, netB := networkName(m.Scope(), ada, lab.Slug), networkName(m.Scope(), bob, lab.Slug)

	nw, ok := mustNetwork(t, ctx, netA)
	if !ok {
		t.Fatalf("no network %s after Start", netA)
	}
	for k, v := range map[string]string{LabelKind: KindSandbox, LabelScope: m.Scope(), LabelUser: strconv.Itoa(ada), LabelLab: lab.Slug} {
		if nw.Labels[k] != v {
			t.Errorf("network label %s = %q, want %q", k, nw.Labels[k], v)
		}
	}
	// (That the backend makes the network private, with no route out, is
	// the backend's promise: the conformance suite and sandbox/docker's
	// tests check it.)
	if cs := mustList(t, m); len(cs) != 2 {
		t.Errorf("%d sandbox containers, want ada's and bob's only", len(cs))
	}
	ipA, ipB := mustIP(t, ctx, sbA.ContainerID), mustIP(t, ctx, sbB.ContainerID)
	if strings.HasPrefix(ipA, "127.") || ipA == ipB {
		t.Fatalf("addresses: ada %s, bob %s", ipA, ipB)
	}

	t.Run("a server in a sandbox is reachable from another process there on its network address", func(t *testing.T) {
		code, out := MustExec(t, sbA.ContainerID, "sh", "-c", serveHello+connectLoop, "sh", ipA, "ada")
		if code != 0 || !strings.Contains(out, "got:hello-ada") {
			t.Fatalf("exit %d, output %q; want got:hello-ada", code, out)
		}
	})

	t.Run("one learner's sandbox cannot reach another's", func(t *testing.T) {
		// Bob serves on his address, and reaches himself there...
		code, out := MustExec(t, sbB.ContainerID, "sh", "-c", serveHello+connectLoop, "sh", ipB, "bob")
		if code != 0 || !strings.Contains(out, "got:hello-bob") {
			t.Fatalf("bob's own server: exit %d, output %q", code, out)
		}
		// ...but Ada cannot.
		code, out = MustExec(t, sbA.ContainerID, "sh", "-c", `nc -w 3 "$1" 7000 </dev/null; echo "rc=$?"`, "sh", ipB)
		if strings.Contains(out, "hello-bob") || strings.Contains(out, "rc=0") {
			t.Fatalf("ada reached bob's sandbox at %s: exit %d, output %q", ipB, code, out)
		}
	})

	t.Run("a sandbox cannot reach the host", func(t *testing.T) {
		// A server of this test process (as the portal or any service of
		// the host would be) on every host interface, reachable by the
		// host at each of its addresses, is not reachable from a sandbox
		// at any of them.
		ln, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = io.WriteString(c, "hello-host\n")
				c.Close()
			}
		}()
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil || ipn.IP.IsLoopback() {
				continue
			}
			host := ipn.IP.String()
			c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 5*time.Second)
			if err != nil {
				t.Fatalf("the host cannot reach its own server at %s: %v", host, err)
			}
			c.Close()
			_, out := MustExec(t, sbA.ContainerID, "sh", "-c", `nc -w 2 "$1" "$2" </dev/null; echo "rc=$?"`, "sh", host, port)
			if strings.Contains(out, "hello-host") {
				t.Errorf("ada's sandbox reached the host at %s: %q", host, out)
			}
			checked++
		}
		if checked == 0 {
			t.Fatal("the host has no address besides loopback to check")
		}
	})

	t.Run("a lab without the field has no network", func(t *testing.T) {
		sb, err := m.Start(ctx, ada, testLab(), learnerFiles, nil)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		if ifaces := mustInterfaces(t, sb.ContainerID); len(ifaces) != 1 || ifaces[0] != "lo" {
			t.Errorf("network interfaces %q, want only lo", ifaces)
		}
		if _, ok := mustNetwork(t, ctx, networkName(m.Scope(), ada, testLab().Slug)); ok {
			t.Errorf("a network was created for a lab without one")
		}
	})

	t.Run("Stop removes the network", func(t *testing.T) {
		if err := m.Stop(ctx, ada, lab.Slug); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if _, ok := mustNetwork(t, ctx, netA); ok {
			t.Errorf("network %s still there after Stop", netA)
		}
		if _, ok := mustNetwork(t, ctx, netB); !ok {
			t.Errorf("Stop of ada removed bob's network")
		}
		// And a new start makes a fresh one.
		sb, err := m.Start(ctx, ada, lab, learnerFiles, nil)
		if err != nil {
			t.Fatalf("Start again: %v", err)
		}
		mustIP(t, ctx, sb.ContainerID)
		// A container that vanished behind the Manager's back leaves its
		// network; the next start reuses it.
		testEngine.removeContainer(sb.ContainerID)
		if sb, err = m.Start(ctx, ada, lab, learnerFiles, nil); err != nil {
			t.Fatalf("Start after the container vanished: %v", err)
		}
		mustIP(t, ctx, sb.ContainerID)
		nets, err := testEngine.b.ListNetworks(ctx, m.match(map[string]string{LabelUser: strconv.Itoa(ada), LabelLab: lab.Slug}))
		if err != nil || len(nets) != 1 || nets[0].Name != netA {
			t.Errorf("ada's networks after the restart: %v, %v; want %s only", nets, err, netA)
		}
	})

	t.Run("Reconcile removes orphan networks", func(t *testing.T) {
		const ghost = 8103 // a learner whose sandbox the store does not know
		orphan, err := m.ensureNetwork(ctx, ghost, lab.Slug)
		if err != nil {
			t.Fatalf("ensureNetwork: %v", err)
		}
		// Ada's row says stopped while her container and network live on,
		// as after a crash between the engine and the store.
		row, err := st.FindSandbox(ctx, ada, lab.Slug)
		if err != nil {
			t.Fatal(err)
		}
		row.State = faultline.SandboxStopped
		if err := st.UpsertSandbox(ctx, row); err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.Reconcile(ctx); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		for _, name := range []string{orphan, netA} {
			if _, ok := mustNetwork(t, ctx, name); ok {
				t.Errorf("orphan network %s survived Reconcile", name)
			}
		}
		if _, ok := mustNetwork(t, ctx, netB); !ok {
			t.Errorf("Reconcile removed running bob's network")
		}
		if err := m.Stop(ctx, bob, lab.Slug); err != nil {
			t.Fatalf("Stop bob: %v", err)
		}
		if _, ok := mustNetwork(t, ctx, netB); ok {
			t.Errorf("network %s still there after Stop", netB)
		}
	})
}

func TestNetworkName(t *testing.T) {
	if got, want := networkName("abc", 7, "saga"), "faultline-net-abc-u7-saga"; got != want {
		t.Errorf("networkName = %q, want %q", got, want)
	}
	if got, want := networkName("", 7, "saga"), "faultline-net-u7-saga"; got != want {
		t.Errorf("networkName = %q, want %q", got, want)
	}
}
