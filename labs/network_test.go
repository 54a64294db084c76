package labs

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/faultline-dev/faultline"
)

// withSandboxBlock returns the demo lab with block appended to its lab.yaml.
func withSandboxBlock(block string) fstest.MapFS {
	fs := demoLab("demo")
	fs["demo/lab.yaml"] = &fstest.MapFile{Data: append(fs["demo/lab.yaml"].Data, block...)}
	return fs
}

func TestLabSandboxNetwork(t *testing.T) {
	for _, c := range []struct {
		block, want string
	}{
		{"", ""},
		{"sandbox: {network: none}\n", ""},
		{"sandbox: {network: private}\n", faultline.LabNetworkPrivate},
		{"sandbox:\n  network: private\n", faultline.LabNetworkPrivate},
	} {
		lab, err := MustLoad(t, withSandboxBlock(c.block)).Lab("demo")
		if err != nil {
			t.Fatal(err)
		}
		if lab.Network != c.want {
			t.Errorf("%q: Network %q, want %q", c.block, lab.Network, c.want)
		}
	}
	for _, c := range []struct {
		block, want string
	}{
		{"sandbox: {network: public}\n", `labs/demo/lab.yaml: sandbox.network: "public" is not none or private`},
		{"sandbox: {network: host}\n", `sandbox.network: "host" is not none or private`},
		{"sandbox: {ports: [80]}\n", `sandbox: unknown field "ports"; the fields of sandbox are network`},
	} {
		_, err := Load(withSandboxBlock(c.block))
		if faultline.ErrorCode(err) != faultline.EINVALID || !strings.Contains(faultline.ErrorMessage(err), c.want) {
			t.Errorf("%q: Load error %v, want EINVALID containing %q", c.block, err, c.want)
		}
	}
}

// The built-in labs run their tests in one process under labkit: none of
// them needs a network.
func TestBuiltInLabsHaveNoNetwork(t *testing.T) {
	c, err := Load(FS)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range c.All() {
		if l.Network != "" {
			t.Errorf("%s: sandbox network %q; the built-in labs need none", l.Slug, l.Network)
		}
	}
}
