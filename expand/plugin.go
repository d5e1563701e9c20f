package expand

import (
	"context"

	"github.com/flyte-admission/flyte-admission/plugins"
	"github.com/flyte-admission/flyte-admission/task"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Plugin is what expansion needs of a plugin: Flyte's BuildResource and the
// defaults the kind's CRD sets. A registered plugin that is not a Plugin
// expands nothing: a skeleton of its kind is refused.
type Plugin interface {
	plugins.Plugin
	// Expand is Flyte's BuildResource: the full object for t (spec only;
	// metadata is the caller's).
	Expand(ctx context.Context, t *task.Task, env plugins.Env) (client.Object, error)
	// CRDDefaults are the values the operator's CRD schema defaults outside
	// lists (dotted paths, numbers as json.Number). The apiserver sets them
	// before admission, so a skeleton's value equal to one is not taken as
	// written by the user.
	CRDDefaults() map[string]any
}

// Recycler is a Plugin whose expanded objects can be handed back once they
// have been encoded, for its next expansions to be built in.
type Recycler interface {
	// Recycle takes back obj, which Expand returned; nothing uses it after.
	Recycle(obj client.Object)
}
