package plugins

import (
	"strings"
	"time"

	"github.com/flyte-admission/flyte-admission/task"
	"github.com/flyte-admission/flyte-admission/tasklog"
	"github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Labels returns the execution's labels as Flyte's plugin manager sees them:
// the execution labels plus the secret-injection and identity labels. The
// result is read only: with nothing to add it is t.Exec.Labels itself.
func Labels(t *task.Task) map[string]string {
	secrets := len(t.Template.GetSecurityContext().GetSecrets()) > 0
	id := t.Template.GetSecurityContext().GetRunAs().GetExecutionIdentity()
	if !secrets && id == "" {
		return t.Exec.Labels
	}
	out := make(map[string]string, len(t.Exec.Labels)+2)
	for k, v := range t.Exec.Labels {
		out[k] = v
	}
	if secrets {
		out["inject-flyte-secrets"] = "true"
	}
	if id != "" {
		out["execution-identity"] = sanitizeLabel(id)
	}
	return out
}

// Annotations returns the execution's annotations plus one flyte.secrets/s<i>
// per requested secret, as Flyte's plugin manager adds them. The result is
// read only: with no secrets it is t.Exec.Annotations itself.
func Annotations(t *task.Task) map[string]string {
	secrets := t.Template.GetSecurityContext().GetSecrets()
	if len(secrets) == 0 {
		return t.Exec.Annotations
	}
	out := make(map[string]string, len(t.Exec.Annotations)+len(secrets))
	for k, v := range t.Exec.Annotations {
		out[k] = v
	}
	// The template's secrets were checked when it was decoded
	// (task.DecodeTemplate), so this cannot fail.
	enc, _ := task.SecretAnnotations(secrets)
	for k, v := range enc {
		out[k] = v
	}
	return out
}

// sanitizeLabel lower-cases, turns runs of characters outside [-a-z0-9] into
// "-", cuts to 63 characters and trims dashes.
func sanitizeLabel(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r == '-' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
			continue
		}
		if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	out := b.String()
	if len(out) > 63 {
		out = out[:63]
	}
	return strings.Trim(out, "-")
}

// PhaseContext is what log links of a running object are rendered from: the
// execution context and, when the object carries it, the task template.
type PhaseContext struct {
	Exec     task.Execution
	Template *core.TaskTemplate
	Name     string
}

// NewPhaseContext reads the execution (and template, if any) of obj. A broken
// annotation yields the defaults: phase mapping never fails on metadata.
func NewPhaseContext(obj client.Object) PhaseContext {
	pc := PhaseContext{Name: obj.GetName()}
	ann := obj.GetAnnotations()
	if e, err := task.ExecutionFor(obj.GetName(), obj.GetNamespace(), ann); err == nil {
		pc.Exec = e
	} else {
		pc.Exec, _ = task.ExecutionFor(obj.GetName(), obj.GetNamespace(), nil)
	}
	if raw, ok := ann[task.TemplateAnnotation]; ok {
		if tt, err := task.CachedTemplate(raw); err == nil {
			pc.Template = tt
		}
	}
	return pc
}

// TaskExecution is the log-template identity of the attempt.
func (pc PhaseContext) TaskExecution() tasklog.TaskExecution {
	id := pc.Template.GetId()
	return tasklog.TaskExecution{
		TaskProject:      id.GetProject(),
		TaskDomain:       id.GetDomain(),
		TaskName:         id.GetName(),
		TaskVersion:      id.GetVersion(),
		ExecutionProject: pc.Exec.Project,
		ExecutionDomain:  pc.Exec.Domain,
		ExecutionName:    pc.Exec.Name,
		NodeID:           pc.Exec.Node,
		RetryAttempt:     pc.Exec.RetryAttempt,
		GeneratedName:    pc.Name,
	}
}

// TaskConfig is the template's config map (nil without a template).
func (pc PhaseContext) TaskConfig() map[string]string {
	if pc.Template == nil {
		return nil
	}
	if c := pc.Template.GetConfig(); c != nil {
		return c
	}
	return map[string]string{}
}

// LogTimes fills the start/finish variables of in.
func LogTimes(in *tasklog.Input, start, finish int64) {
	in.PodUnixStartTime = start
	in.PodUnixFinishTime = finish
	in.PodRFC3339StartTime = time.Unix(start, 0).UTC().Format(time.RFC3339)
	in.PodRFC3339FinishTime = time.Unix(finish, 0).UTC().Format(time.RFC3339)
}
