package webhook

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ClusterTemplates looks PodTemplates up in a cluster, through an informer
// cache (list/watch podtemplates in every namespace), so that a lookup on the
// admission path is a map read. It implements podspec.Templates.
type ClusterTemplates struct {
	// Namespace is flyte-admission's own namespace: where templates named
	// without a namespace (Flyte's default PodTemplate) live.
	Namespace string

	cache  cache.Cache
	synced atomic.Bool
}

// NewClusterTemplates prepares the cache; Start runs it.
func NewClusterTemplates(cfg *rest.Config, namespace string) (*ClusterTemplates, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := cache.New(cfg, cache.Options{Scheme: scheme, ReaderFailOnMissingInformer: true})
	if err != nil {
		return nil, fmt.Errorf("PodTemplate cache: %w", err)
	}
	if _, err := c.GetInformer(context.Background(), &corev1.PodTemplate{}); err != nil {
		return nil, fmt.Errorf("PodTemplate informer: %w", err)
	}
	return &ClusterTemplates{Namespace: namespace, cache: c}, nil
}

// Start implements Starter.
func (t *ClusterTemplates) Start(ctx context.Context) error {
	go func() {
		if t.cache.WaitForCacheSync(ctx) {
			t.synced.Store(true)
		}
	}()
	return t.cache.Start(ctx)
}

// Ready returns nil once the cache holds the cluster's PodTemplates.
func (t *ClusterTemplates) Ready() error {
	if !t.synced.Load() {
		return errors.New("PodTemplates not synced yet")
	}
	return nil
}

// PodTemplate implements podspec.Templates.
func (t *ClusterTemplates) PodTemplate(namespace, name string) (*corev1.PodTemplate, bool) {
	if !t.synced.Load() {
		return nil, false
	}
	if namespace == "" {
		namespace = t.Namespace
	}
	pt := &corev1.PodTemplate{}
	if err := t.cache.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, pt); err != nil {
		return nil, false
	}
	return pt, true
}
