// Command devcluster runs a local Kubernetes control plane (etcd + kube-apiserver built from
// source by hack/build-control-plane.sh) with the project's CRDs installed, writes a kubeconfig,
// and runs until interrupted. It is what "running locally" means on a machine without Docker.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mcpproxy/mcpproxy-operator/internal/testenv/controlplane"
)

func main() {
	crds := flag.String("crds", "config/crd/bases", "directory of CRD manifests to install")
	dir := flag.String("dir", "bin/dev", "directory for the kubeconfig and control-plane data")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cp, err := controlplane.Start(*crds, *dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
	fmt.Printf("Control plane ready at %s\n", cp.Config.Host)
	fmt.Printf("  export KUBECONFIG=%s\n  kubectl get upstreamservers -A\n", cp.KubeconfigPath)
	<-ctx.Done()
	fmt.Println("Stopping control plane")
	if err := cp.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster: stop:", err)
		os.Exit(1)
	}
}
