package webhook

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/policy"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

func request(b *testing.B, body []byte) admission.Request {
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &ar); err != nil {
		b.Fatal(err)
	}
	return admission.Request{AdmissionRequest: *ar.Request}
}

// BenchmarkMutate runs the real mutating handler on a Spark skeleton (a full
// expansion) and on an already-expanded object (the reinvocation path).
func BenchmarkMutate(b *testing.B) {
	cfg := loadConfig(b, "../examples/config/plugins.yaml")
	m := &Mutator{Registry: registry, Config: func() *config.Config { return cfg }, Now: fixedNow}
	skeleton := readObjects(b, "../examples/spark-pi.yaml")[0].Map
	for _, bc := range []struct {
		name string
		obj  map[string]any
	}{{"expand", skeleton}, {"already-expanded", mustExpand(b, cfg, skeleton)}} {
		req := request(b, review(b, admissionv1.Create, bc.obj, nil, false))
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if resp := m.Handle(context.Background(), req); !resp.Allowed {
					b.Fatal(resp.Result)
				}
			}
		})
	}
}

// BenchmarkValidate runs the real validating handler on an expanded
// SparkApplication with every policy on.
func BenchmarkValidate(b *testing.B) {
	cfg := loadConfig(b, "../examples/config/plugins.yaml")
	set, err := policy.Parse([]byte(`
allowed-registries: {registries: [ghcr.io/flyteorg]}
max-resources: {per-pod: {cpu: 64}, per-job: {cpu: 1000}}
forbid-privileged: {}
forbid-host-path: {}
`))
	if err != nil {
		b.Fatal(err)
	}
	v := &Validator{Registry: registry, Config: func() *config.Config { return cfg }, Policies: func() *policy.Set { return set }}
	obj := mustExpand(b, cfg, readObjects(b, "../examples/spark-pi.yaml")[0].Map)
	req := request(b, review(b, admissionv1.Create, obj, nil, false))
	b.ReportAllocs()
	for b.Loop() {
		if resp := v.Handle(context.Background(), req); !resp.Allowed {
			b.Fatal(resp.Result)
		}
	}
}

// BenchmarkDecodeReview decodes the review of a skeleton (CREATE) and of an
// UPDATE of an expanded object, through the fast path and the ordinary way.
func BenchmarkDecodeReview(b *testing.B) {
	cfg := loadConfig(b, "../examples/config/plugins.yaml")
	skeleton := readObjects(b, "../examples/spark-pi.yaml")[0].Map
	full := mustExpand(b, cfg, skeleton)
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"create-skeleton", review(b, admissionv1.Create, skeleton, nil, false)},
		{"update-expanded", review(b, admissionv1.Update, full, full, false)},
	} {
		for _, fast := range []bool{true, false} {
			name := bc.name + "/ordinary"
			if fast {
				name = bc.name + "/fast"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := decodeReviewWith(bc.body, fast); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
