package controllers

// The gateway's permissions (package gateway, served by the manager): it authenticates callers
// with TokenReview and asks SubjectAccessReview whether they may `use` an UpstreamServer.
// controller-gen scans only ./api and ./controllers, so the markers live here.

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
