package upstream

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcpv1alpha1 "github.com/mcpproxy/mcpproxy-operator/api/v1alpha1"
)

// RefreshRequest asks the reconciler, the only refresher, to look at a server's token now, or
// at the token of one of its credentials.
type RefreshRequest struct {
	Server types.NamespacedName
	// Credential, when set, names the UpstreamCredential (in Server's namespace) whose token
	// is meant: a PerSubject server holds none of its own.
	Credential string
	// RejectedRevision, when not zero, is the store revision whose access token an upstream
	// rejected (401): the reconciler refreshes it unless a newer revision is already stored or
	// refreshes are backing off. Zero asks only for a look (a dropped session, say).
	RejectedRevision uint64
}

// Refresher takes refresh requests in process. RequestRefresh never blocks, and requests for
// the same server coalesce until the reconciler takes them.
type Refresher interface {
	RequestRefresh(RefreshRequest)
}

// AnnotateRefreshRequest sets mcpproxy.dev/refresh-requested-at on a server to at: the
// request people and the CLI make, honoured even during a backoff.
func AnnotateRefreshRequest(ctx context.Context, c client.Client, nn types.NamespacedName, at time.Time) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`,
		mcpv1alpha1.AnnotationRefreshRequestedAt, at.UTC().Format(time.RFC3339Nano))
	obj := &mcpv1alpha1.UpstreamServer{}
	obj.Namespace, obj.Name = nn.Namespace, nn.Name
	if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return fmt.Errorf("asking for a refresh of %s: %w", nn, err)
	}
	return nil
}
