// Package expansions gathers the inputs the project is judged on — every
// example (with the example platform config) and every conformance skeleton
// (with its own config) — and expands them as the CLI does, so tests can run
// the operators' code and the plugins' checks on the results.
package expansions

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/flyte-admission/flyte-admission/config"
	"github.com/flyte-admission/flyte-admission/expand"
	"github.com/flyte-admission/flyte-admission/internal/objects"
	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/plugins/builtin"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Case is one expanded input.
type Case struct {
	// Name says where the input came from ("examples/ray-train.yaml",
	// "conformance/ray/basic_runtime_env_b64").
	Name   string
	Config *config.Config
	// Object is the expanded object, typed; Err the expansion's refusal.
	Object client.Object
	Plugin plugins.Plugin
	Err    error
}

// All expands every example and conformance skeleton under root (the
// repository's top directory). Objects of other kinds are left out.
func All(root string) ([]Case, error) {
	var out []Case
	examples, err := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(examples)
	for _, f := range examples {
		cs, err := expandFile(f, filepath.Join(root, "examples", "config", "plugins.yaml"), "examples/"+filepath.Base(f))
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	skeletons, err := filepath.Glob(filepath.Join(root, "cmd", "flyte-admission", "testdata", "conformance", "*", "*", "skeleton.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(skeletons)
	for _, f := range skeletons {
		dir := filepath.Dir(f)
		cfg := filepath.Join(dir, "config.yaml")
		if _, err := os.Stat(cfg); err != nil {
			cfg = ""
		}
		cs, err := expandFile(f, cfg, "conformance/"+filepath.Base(filepath.Dir(dir))+"/"+filepath.Base(dir))
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

func expandFile(path, configPath, name string) ([]Case, error) {
	cfg, err := config.Load(configPath)
	if err != nil {
		return nil, fmt.Errorf("%s: config %s: %w", name, configPath, err)
	}
	objs, err := objects.ReadPath(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	templates := objects.PodTemplates{}
	for _, o := range objs {
		if o.Map["kind"] == "PodTemplate" {
			if err := templates.Add(o.Map); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	x := &expand.Expander{Registry: builtin.Registry(), Env: plugins.Env{Config: cfg, Templates: templates}}
	var out []Case
	for _, o := range objs {
		res, err := x.Expand(context.Background(), o.Map, nil)
		c := Case{Name: name, Config: cfg, Err: err}
		if err == nil {
			if res.Plugin == nil {
				continue
			}
			c.Plugin = res.Plugin
			if c.Object, err = Typed(res.Plugin, res.Object()); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		} else if res == nil {
			av, _ := o.Map["apiVersion"].(string)
			kind, _ := o.Map["kind"].(string)
			if c.Plugin, _ = builtin.Registry().ForKind(schema.FromAPIVersionAndKind(av, kind).GroupKind()); c.Plugin == nil {
				continue
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// Typed decodes an expanded object into p's Go type.
func Typed(p plugins.Plugin, obj map[string]any) (client.Object, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode expanded object: %w", err)
	}
	typed := p.NewObject()
	if err := json.Unmarshal(data, typed); err != nil {
		return nil, fmt.Errorf("decode expanded %s: %w", p.Kind().Kind, err)
	}
	return typed, nil
}
