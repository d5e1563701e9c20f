package certs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// patchAttempts bounds the get+patch retries for one webhook configuration.
const patchAttempts = 4

type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// caBundlePatch returns a JSON patch that sets caBundle on every webhook whose
// caBundle differs from bundle, each guarded by a test of the webhook's name
// at that index (so a concurrent reordering fails the patch instead of
// patching the wrong webhook); nil when nothing differs.
func caBundlePatch(names []string, bundles [][]byte, bundle []byte) ([]byte, error) {
	var ops []jsonPatchOp
	for i := range names {
		if bytes.Equal(bundles[i], bundle) {
			continue
		}
		ops = append(ops,
			jsonPatchOp{Op: "test", Path: fmt.Sprintf("/webhooks/%d/name", i), Value: names[i]},
			// "add" on an existing member replaces it, and creates it when absent.
			jsonPatchOp{Op: "add", Path: fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), Value: bundle},
		)
	}
	if len(ops) == 0 {
		return nil, nil
	}
	return json.Marshal(ops)
}

// webhookConfig abstracts the two admissionregistration/v1 kinds.
type webhookConfig struct {
	kind string
	name string
	new  func() client.Object
	read func(client.Object) (names []string, bundles [][]byte)
}

func (m *Manager) webhookConfigs() []webhookConfig {
	var out []webhookConfig
	if n := m.o.MutatingWebhookName; n != "" {
		out = append(out, webhookConfig{
			kind: "MutatingWebhookConfiguration", name: n,
			new: func() client.Object { return &admissionregistrationv1.MutatingWebhookConfiguration{} },
			read: func(o client.Object) ([]string, [][]byte) {
				var names []string
				var bundles [][]byte
				for _, w := range o.(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks {
					names = append(names, w.Name)
					bundles = append(bundles, w.ClientConfig.CABundle)
				}
				return names, bundles
			},
		})
	}
	if n := m.o.ValidatingWebhookName; n != "" {
		out = append(out, webhookConfig{
			kind: "ValidatingWebhookConfiguration", name: n,
			new: func() client.Object { return &admissionregistrationv1.ValidatingWebhookConfiguration{} },
			read: func(o client.Object) ([]string, [][]byte) {
				var names []string
				var bundles [][]byte
				for _, w := range o.(*admissionregistrationv1.ValidatingWebhookConfiguration).Webhooks {
					names = append(names, w.Name)
					bundles = append(bundles, w.ClientConfig.CABundle)
				}
				return names, bundles
			},
		})
	}
	return out
}

// injectCABundle makes the caBundle of every webhook of the configured
// webhook configurations equal to bundle. Configurations that do not exist
// are reported in missing (not an error: they are patched on a later pass).
// Webhook configurations are only ever patched, never created or deleted.
func (m *Manager) injectCABundle(ctx context.Context, bundle []byte) (missing []string, err error) {
	if m.o.Client == nil {
		return nil, nil
	}
	var errs []error
	for _, wc := range m.webhookConfigs() {
		found, err := m.injectOne(ctx, wc, bundle)
		if err != nil {
			errs = append(errs, err)
		} else if !found {
			missing = append(missing, wc.kind+"/"+wc.name)
		}
	}
	return missing, errors.Join(errs...)
}

func (m *Manager) injectOne(ctx context.Context, wc webhookConfig, bundle []byte) (found bool, err error) {
	for attempt := 0; attempt < patchAttempts; attempt++ {
		obj := wc.new()
		if err = m.o.Client.Get(ctx, client.ObjectKey{Name: wc.name}, obj); err != nil {
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return false, fmt.Errorf("get %s %s: %w", wc.kind, wc.name, err)
		}
		names, bundles := wc.read(obj)
		patch, perr := caBundlePatch(names, bundles, bundle)
		if perr != nil {
			return true, perr
		}
		if patch == nil {
			return true, nil
		}
		err = m.o.Client.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, patch))
		if err == nil {
			m.o.Log.Info("patched caBundle", "kind", wc.kind, "name", wc.name, "webhooks", len(names))
			return true, nil
		}
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if ctx.Err() != nil {
			break
		}
		// A failed "test" (the webhooks changed under us) or a transient
		// error: read again and retry.
		m.o.Log.V(1).Info("patching caBundle failed, retrying", "kind", wc.kind, "name", wc.name, "error", err.Error())
	}
	return true, fmt.Errorf("patch caBundle of %s %s: %w", wc.kind, wc.name, err)
}
