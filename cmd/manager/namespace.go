package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// serviceAccountNamespaceFile is where the kubelet writes the pod's namespace.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// podNamespace is the manager's own namespace: POD_NAMESPACE (the chart sets it from the
// downward API), else the ServiceAccount's namespace file.
func podNamespace() (string, error) {
	return podNamespaceFrom(os.Getenv("POD_NAMESPACE"), serviceAccountNamespaceFile)
}

func podNamespaceFrom(env, file string) (string, error) {
	if ns := strings.TrimSpace(env); ns != "" {
		return ns, nil
	}
	data, err := os.ReadFile(file)
	if ns := strings.TrimSpace(string(data)); err == nil && ns != "" {
		return ns, nil
	}
	if err == nil {
		err = errors.New("it is empty")
	}
	return "", fmt.Errorf("--token-store-namespace is not set and the pod's namespace is unknown (POD_NAMESPACE is empty; %s: %v)", file, err)
}
