// Package tasklog renders Flyte task log links from log-plugin configuration.
//
// It re-implements Flyte 1.16.8's flyteplugins/go/tasks/pluginmachinery/tasklog
// (TemplateLogPlugin.GetTaskLogs, template variables) and
// flyteplugins/go/tasks/logs (LogConfig, InitializeLogPlugins) without
// depending on flyteplugins, plus the Flyte 2 `linkType` template field.
package tasklog

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Link types (TemplateLogPlugin.LinkType input, Link.LinkType output).
// External links render as "".
const (
	LinkTypeExternal  = ""
	LinkTypeDashboard = "dashboard"
	LinkTypeIDE       = "ide"
)

// Message formats as rendered into Link.MessageFormat (names of flyteidl
// core.TaskLog_MessageFormat; UNKNOWN renders as "").
const (
	MessageFormatUnknown = ""
	MessageFormatCSV     = "CSV"
	MessageFormatJSON    = "JSON"
)

// Display names of the built-in plugins (logs.InitializeLogPlugins).
const (
	KubernetesDisplayName  = "Kubernetes Logs"
	CloudwatchDisplayName  = "Cloudwatch Logs"
	StackdriverDisplayName = "Stackdriver Logs"
)

// TemplateLogPlugin is one configured link template (Flyte's tasklog.TemplateLogPlugin, plus LinkType).
type TemplateLogPlugin struct {
	Name                string   `json:"name,omitempty"`
	DisplayName         string   `json:"displayName,omitempty"`
	TemplateURIs        []string `json:"templateUris,omitempty"`
	DynamicTemplateURIs []string `json:"dynamicTemplateUris,omitempty"`
	// MessageFormat: "", UNKNOWN, CSV, JSON (case-insensitive) or the enum number 0, 1, 2.
	MessageFormat string `json:"messageFormat,omitempty"`
	// Scheme is deprecated and ignored; Validate accepts "", Pod, TaskExecution or an integer.
	Scheme           string `json:"scheme,omitempty"`
	ShowWhilePending bool   `json:"showWhilePending,omitempty"`
	HideOnceFinished bool   `json:"hideOnceFinished,omitempty"`
	LinkType         string `json:"linkType,omitempty"` // extension: external|dashboard|ide, case-insensitive, "" = external
}

// LogConfig is Flyte's logs.LogConfig with its YAML/JSON keys.
//
// The `templates` list is the field TemplatePlugins (a Go type cannot have both
// a field and a method named Templates).
type LogConfig struct {
	IsCloudwatchEnabled bool `json:"cloudwatch-enabled,omitempty"`
	// Deprecated in Flyte: prefer CloudwatchTemplateURI.
	CloudwatchRegion string `json:"cloudwatch-region,omitempty"`
	// Deprecated in Flyte: prefer CloudwatchTemplateURI.
	CloudwatchLogGroup    string `json:"cloudwatch-log-group,omitempty"`
	CloudwatchTemplateURI string `json:"cloudwatch-template-uri,omitempty"`

	IsKubernetesEnabled bool `json:"kubernetes-enabled,omitempty"`
	// Deprecated in Flyte: prefer KubernetesTemplateURI.
	KubernetesURL         string `json:"kubernetes-url,omitempty"`
	KubernetesTemplateURI string `json:"kubernetes-template-uri,omitempty"`

	IsStackDriverEnabled bool `json:"stackdriver-enabled,omitempty"`
	// Deprecated in Flyte: prefer StackDriverTemplateURI.
	GCPProjectName string `json:"gcp-project,omitempty"`
	// Deprecated in Flyte: prefer StackDriverTemplateURI.
	StackdriverLogResourceName string `json:"stackdriver-logresourcename,omitempty"`
	StackDriverTemplateURI     string `json:"stackdriver-template-uri,omitempty"`

	// DynamicLogLinks maps a link type (matched against TaskTemplate.config["link_type"])
	// to a plugin; only its displayName, templateUris, showWhilePending,
	// hideOnceFinished and linkType are used.
	DynamicLogLinks map[string]TemplateLogPlugin `json:"dynamic-log-links,omitempty"`

	TemplatePlugins []TemplateLogPlugin `json:"templates,omitempty"`
}

// DefaultKubernetesTemplateURI is the kubernetes-template-uri of DefaultLogConfig.
const DefaultKubernetesTemplateURI = "http://localhost:30082/#!/log/{{ .namespace }}/{{ .podName }}/pod?namespace={{ .namespace }}"

// DefaultLogConfig returns logs.DefaultConfig: kubernetes-enabled true,
// kubernetes-template-uri DefaultKubernetesTemplateURI.
func DefaultLogConfig() LogConfig {
	return LogConfig{IsKubernetesEnabled: true, KubernetesTemplateURI: DefaultKubernetesTemplateURI}
}

// TaskExecution identifies the task attempt (Flyte TaskExecutionIdentifier, flattened).
type TaskExecution struct {
	TaskProject, TaskDomain, TaskName, TaskVersion   string
	ExecutionProject, ExecutionDomain, ExecutionName string
	NodeID                                           string // unique node id  -> {{ .nodeID }}
	RetryAttempt                                     uint32 // -> {{ .taskRetryAttempt }}
	GeneratedName                                    string // -> {{ .generatedName }}
}

// Input is what a link is rendered from (Flyte's tasklog.Input).
type Input struct {
	HostName, PodName, Namespace, ContainerName, ContainerID, LogName string
	PodRFC3339StartTime, PodRFC3339FinishTime                         string
	PodUnixStartTime, PodUnixFinishTime                               int64
	PodUID, NodeName                                                  string
	TaskExecution                                                     TaskExecution
	// ExtraVars are plugin extras, e.g. rayJobID, rayClusterName. Names are
	// matched literally and case-insensitively (they must not contain spaces
	// or '}'); they are substituted right after logName, in key order.
	ExtraVars map[string]string
	// TaskConfig is TaskTemplate.config; nil = no task template (dynamic links then produce nothing).
	TaskConfig map[string]string
}

// Link is one rendered log link.
type Link struct {
	Name             string `json:"name"`
	URI              string `json:"uri"`
	MessageFormat    string `json:"messageFormat,omitempty"`
	ShowWhilePending bool   `json:"showWhilePending,omitempty"`
	HideOnceFinished bool   `json:"hideOnceFinished,omitempty"`
	LinkType         string `json:"linkType,omitempty"` // lower-case; "" for external
}

func kubernetesDefaultURI(k8sURL string) string {
	return k8sURL + "/#!/log/{{ .namespace }}/{{ .podName }}/pod?namespace={{ .namespace }}"
}

func cloudwatchDefaultURI(region, group string) string {
	return "https://console.aws.amazon.com/cloudwatch/home?region=" + region +
		"#logEventViewer:group=" + group +
		";stream=var.log.containers.{{ .podName }}_{{ .namespace }}_{{ .containerName }}-{{ .containerId }}.log"
}

func stackdriverDefaultURI(project, resource string) string {
	return "https://console.cloud.google.com/logs/viewer?project=" + project +
		"&angularJsUrl=%2Flogs%2Fviewer%3Fproject%3D" + project +
		"&resource=" + resource +
		"&advancedFilter=resource.labels.pod_name%3D{{ .podName }}"
}

// builtinURI returns the URI of built-in plugin i (0 Kubernetes, 1 Cloudwatch,
// 2 Stackdriver) and whether it is enabled.
func (c *LogConfig) builtinURI(i int) (displayName, uri string, enabled bool) {
	switch i {
	case 0:
		if uri = c.KubernetesTemplateURI; uri == "" && c.IsKubernetesEnabled {
			uri = kubernetesDefaultURI(c.KubernetesURL)
		}
		return KubernetesDisplayName, uri, c.IsKubernetesEnabled
	case 1:
		if uri = c.CloudwatchTemplateURI; uri == "" && c.IsCloudwatchEnabled {
			uri = cloudwatchDefaultURI(c.CloudwatchRegion, c.CloudwatchLogGroup)
		}
		return CloudwatchDisplayName, uri, c.IsCloudwatchEnabled
	default:
		if uri = c.StackDriverTemplateURI; uri == "" && c.IsStackDriverEnabled {
			uri = stackdriverDefaultURI(c.GCPProjectName, c.StackdriverLogResourceName)
		}
		return StackdriverDisplayName, uri, c.IsStackDriverEnabled
	}
}

// dynamicPlugin converts a dynamic-log-links entry as InitializeLogPlugins
// does: Name = map key, its templateUris become DynamicTemplateURIs, message
// format JSON, its own dynamicTemplateUris/messageFormat/scheme are dropped.
func dynamicPlugin(name string, d *TemplateLogPlugin) TemplateLogPlugin {
	return TemplateLogPlugin{
		Name:                name,
		DisplayName:         d.DisplayName,
		DynamicTemplateURIs: d.TemplateURIs,
		MessageFormat:       MessageFormatJSON,
		ShowWhilePending:    d.ShowWhilePending,
		HideOnceFinished:    d.HideOnceFinished,
		LinkType:            d.LinkType,
	}
}

func sortedKeys(m map[string]TemplateLogPlugin) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Templates returns the configured plugins in Flyte's order
// (logs.InitializeLogPlugins + templateLogPluginCollection): the enabled
// built-ins Kubernetes, Cloudwatch, Stackdriver (messageFormat JSON), then
// TemplatePlugins as configured, then DynamicLogLinks sorted by name (Flyte
// iterates the map in random order). Slices inside are shared with c.
func (c LogConfig) Templates() []TemplateLogPlugin {
	var out []TemplateLogPlugin
	for i := 0; i < 3; i++ {
		if dn, uri, on := c.builtinURI(i); on {
			out = append(out, TemplateLogPlugin{DisplayName: dn, TemplateURIs: []string{uri}, MessageFormat: MessageFormatJSON})
		}
	}
	out = append(out, c.TemplatePlugins...)
	for _, k := range sortedKeys(c.DynamicLogLinks) {
		d := c.DynamicLogLinks[k]
		out = append(out, dynamicPlugin(k, &d))
	}
	return out
}

// Render renders every link of c for in, in Templates() order, with Flyte's
// GetTaskLogs semantics: per plugin, one link per templateUris entry named
// render(displayName)+render(in.LogName); then, for each comma-separated entry
// of in.TaskConfig["link_type"] (no trimming) equal to the plugin's Name, one
// link per dynamicTemplateUris entry named displayName+LogName (not rendered),
// where {{ .taskConfig.<key> }} is also available. Returns nil when there are no
// links; errors only on an invalid linkType or messageFormat.
func Render(c LogConfig, in Input) ([]Link, error) {
	r := newRenderer(&in)
	linkTypes := in.TaskConfig["link_type"]
	n := 0
	for _, on := range [3]bool{c.IsKubernetesEnabled, c.IsCloudwatchEnabled, c.IsStackDriverEnabled} {
		if on {
			n++
		}
	}
	for i := range c.TemplatePlugins {
		n += len(c.TemplatePlugins[i].TemplateURIs)
	}
	if n == 0 && len(c.TemplatePlugins) == 0 && (linkTypes == "" || len(c.DynamicLogLinks) == 0) {
		return nil, nil
	}
	var links []Link
	if n > 0 {
		links = make([]Link, 0, n)
	}
	for i := 0; i < 3; i++ {
		if dn, uri, on := c.builtinURI(i); on {
			name := concat(r.expand(dn, false), r.expand(in.LogName, false))
			links = append(links, Link{Name: name, URI: r.expand(uri, false), MessageFormat: MessageFormatJSON})
		}
	}
	var err error
	for i := range c.TemplatePlugins {
		if links, err = r.renderPlugin(links, &c.TemplatePlugins[i], linkTypes); err != nil {
			return nil, err
		}
	}
	if linkTypes != "" && len(c.DynamicLogLinks) > 0 {
		for _, k := range sortedKeys(c.DynamicLogLinks) {
			d := c.DynamicLogLinks[k]
			p := dynamicPlugin(k, &d)
			if links, err = r.renderPlugin(links, &p, linkTypes); err != nil {
				return nil, err
			}
		}
	}
	if len(links) == 0 {
		return nil, nil
	}
	return links, nil
}

// Render renders the links of this single plugin for in (Flyte's
// TemplateLogPlugin.GetTaskLogs); see the package-level Render.
func (p TemplateLogPlugin) Render(in Input) ([]Link, error) {
	r := newRenderer(&in)
	return r.renderPlugin(nil, &p, in.TaskConfig["link_type"])
}

// ExpandTemplate substitutes the standard variables of in into template
// (no {{ .taskConfig.<key> }}); unknown or empty variables stay verbatim.
func ExpandTemplate(template string, in Input) string {
	r := newRenderer(&in)
	return r.expand(template, false)
}

func (r *renderer) renderPlugin(out []Link, p *TemplateLogPlugin, linkTypes string) ([]Link, error) {
	mf, err := ParseMessageFormat(p.MessageFormat)
	if err != nil {
		return nil, fmt.Errorf("tasklog: template %q: %w", p.label(), err)
	}
	lt, err := ParseLinkType(p.LinkType)
	if err != nil {
		return nil, fmt.Errorf("tasklog: template %q: %w", p.label(), err)
	}
	if len(p.TemplateURIs) > 0 {
		name := concat(r.expand(p.DisplayName, false), r.expand(r.in.LogName, false))
		for _, u := range p.TemplateURIs {
			out = append(out, Link{
				Name:             name,
				URI:              r.expand(u, false),
				MessageFormat:    mf,
				ShowWhilePending: p.ShowWhilePending,
				HideOnceFinished: p.HideOnceFinished,
				LinkType:         lt,
			})
		}
	}
	if linkTypes == "" || len(p.DynamicTemplateURIs) == 0 {
		return out, nil
	}
	r.cfgKeys = r.cfgKeys[:0]
	for rest, more := linkTypes, true; more; {
		var t string
		t, rest, more = strings.Cut(rest, ",")
		if t != p.Name {
			continue
		}
		for _, u := range p.DynamicTemplateURIs {
			r.collectCfgKeys(u)
			out = append(out, Link{
				Name:             p.DisplayName + r.in.LogName,
				URI:              r.expand(u, true),
				MessageFormat:    mf,
				ShowWhilePending: p.ShowWhilePending,
				HideOnceFinished: p.HideOnceFinished,
				LinkType:         lt,
			})
		}
	}
	return out, nil
}

func concat(a, b string) string {
	if b == "" {
		return a
	}
	if a == "" {
		return b
	}
	return a + b
}

func (p *TemplateLogPlugin) label() string {
	if p.Name != "" {
		return p.Name
	}
	return p.DisplayName
}

// ParseLinkType normalises a linkType: "" or "external" -> "", "dashboard",
// "ide" (case-insensitive). Flyte 2 silently maps unknown values to external;
// here they are an error.
func ParseLinkType(s string) (string, error) {
	switch {
	case s == "" || strings.EqualFold(s, "external"):
		return LinkTypeExternal, nil
	case strings.EqualFold(s, LinkTypeDashboard):
		return LinkTypeDashboard, nil
	case strings.EqualFold(s, LinkTypeIDE):
		return LinkTypeIDE, nil
	}
	return "", fmt.Errorf("invalid linkType %q (want external, dashboard or ide)", s)
}

// ParseMessageFormat normalises a messageFormat to "", "CSV" or "JSON". It
// accepts the enum names (case-insensitive; UNKNOWN -> "") and numbers 0-2
// (Flyte 1.16.8 decodes the field as the int32 enum, so only numbers work there).
func ParseMessageFormat(s string) (string, error) {
	switch {
	case s == "" || s == "0" || strings.EqualFold(s, "UNKNOWN"):
		return MessageFormatUnknown, nil
	case s == "1" || strings.EqualFold(s, MessageFormatCSV):
		return MessageFormatCSV, nil
	case s == "2" || strings.EqualFold(s, MessageFormatJSON):
		return MessageFormatJSON, nil
	}
	return "", fmt.Errorf("invalid messageFormat %q (want UNKNOWN, CSV or JSON)", s)
}

// Validate checks messageFormat, linkType and the deprecated scheme (Flyte's
// TemplateScheme enum: Pod, TaskExecution, or an integer).
func (p TemplateLogPlugin) Validate() error {
	if _, err := ParseMessageFormat(p.MessageFormat); err != nil {
		return err
	}
	if _, err := ParseLinkType(p.LinkType); err != nil {
		return err
	}
	switch p.Scheme {
	case "", "Pod", "TaskExecution":
		return nil
	}
	if _, err := strconv.Atoi(p.Scheme); err != nil {
		return fmt.Errorf("invalid scheme %q (want Pod or TaskExecution)", p.Scheme)
	}
	return nil
}

// Validate checks every entry of templates and dynamic-log-links.
func (c LogConfig) Validate() error {
	for i := range c.TemplatePlugins {
		if err := c.TemplatePlugins[i].Validate(); err != nil {
			return fmt.Errorf("tasklog: templates[%d]: %w", i, err)
		}
	}
	for _, k := range sortedKeys(c.DynamicLogLinks) {
		if err := c.DynamicLogLinks[k].Validate(); err != nil {
			return fmt.Errorf("tasklog: dynamic-log-links[%s]: %w", k, err)
		}
	}
	return nil
}
