package testkit

import (
	"os"
	"os/exec"
	"strings"
)

// StartNode runs bin as an output node, "bin node ARGS" (with JSON logs
// unless args set them), and waits until it runs. Its Addr is the
// node's cluster address (it serves no HTTP). DMXD_CLUSTER_SECRET is
// cleared: the secret comes from args.
func StartNode(bin string, args ...string) (*Process, error) {
	if !strings.Contains(strings.Join(args, " "), "--log-format") {
		args = append(args, "--log-format", "json")
	}
	cmd := exec.Command(bin, append([]string{"node"}, args...)...)
	cmd.Env = append(os.Environ(), "DMXD_OUTPUT=", "DMXD_CLUSTER_SECRET=", "DMXD_CORE=", "DMXD_NODE_NAME=")
	return startCmd(cmd, bin, "cluster")
}
