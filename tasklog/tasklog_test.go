package tasklog

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ---------------------------------------------------------------------------
// Reference: a transcription of Flyte 1.16.8's regexp-based algorithm
// (tasklog/template.go, logs/logging_utils.go), used for differential testing.

func refRegex(name string) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`(?i){{\s*[\.$]%s\s*}}`, name))
}

func refDynRegex(key string) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`(?i){{\s*.taskConfig[\.$]%s\s*}}`, key))
}

var (
	refCfgRe   = regexp.MustCompile(`(?i){{\s*.taskConfig[\.$]([a-zA-Z_]+)\s*}}`)
	refStdVars = func() map[string]*regexp.Regexp {
		m := map[string]*regexp.Regexp{}
		for _, n := range []string{"logName", "podName", "podUID", "namespace", "containerName", "containerID",
			"hostname", "nodeName", "podRFC3339StartTime", "podRFC3339FinishTime", "podUnixStartTime",
			"podUnixFinishTime", "taskID", "taskVersion", "taskProject", "taskDomain", "taskRetryAttempt",
			"nodeID", "executionName", "executionProject", "executionDomain", "generatedName"} {
			m[n] = refRegex(n)
		}
		return m
	}()
)

type refVar struct {
	re *regexp.Regexp
	v  string
}

func refVars(in Input) []refVar {
	vars := []refVar{{refStdVars["logName"], in.LogName}}
	keys := make([]string, 0, len(in.ExtraVars))
	for k := range in.ExtraVars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vars = append(vars, refVar{refRegex(regexp.QuoteMeta(k)), in.ExtraVars[k]})
	}
	cid := in.ContainerID
	if split := strings.Split(cid, "://"); len(split) > 1 {
		cid = split[1]
	}
	te := in.TaskExecution
	add := func(n, v string) { vars = append(vars, refVar{refStdVars[n], v}) }
	add("podName", in.PodName)
	add("podUID", in.PodUID)
	add("namespace", in.Namespace)
	add("containerName", in.ContainerName)
	add("containerID", cid)
	add("hostname", in.HostName)
	add("nodeName", in.NodeName)
	add("nodeID", te.NodeID)
	add("generatedName", te.GeneratedName)
	add("taskRetryAttempt", strconv.FormatUint(uint64(te.RetryAttempt), 10))
	add("taskID", te.TaskName)
	add("taskVersion", te.TaskVersion)
	add("taskProject", te.TaskProject)
	add("taskDomain", te.TaskDomain)
	add("executionName", te.ExecutionName)
	add("executionProject", te.ExecutionProject)
	add("executionDomain", te.ExecutionDomain)
	add("podRFC3339StartTime", in.PodRFC3339StartTime)
	add("podRFC3339FinishTime", in.PodRFC3339FinishTime)
	add("podUnixStartTime", strconv.FormatInt(in.PodUnixStartTime, 10))
	add("podUnixFinishTime", strconv.FormatInt(in.PodUnixFinishTime, 10))
	return vars
}

func refReplaceAll(t string, vars []refVar) string {
	for _, v := range vars {
		if len(v.v) > 0 {
			t = v.re.ReplaceAllLiteralString(t, v.v)
		}
	}
	return t
}

func refPlugin(p TemplateLogPlugin, in Input) []Link {
	vars := refVars(in)
	mf, _ := ParseMessageFormat(p.MessageFormat)
	lt, _ := ParseLinkType(p.LinkType)
	var out []Link
	for _, u := range p.TemplateURIs {
		out = append(out, Link{Name: refReplaceAll(p.DisplayName, vars) + refReplaceAll(in.LogName, vars),
			URI: refReplaceAll(u, vars), MessageFormat: mf, ShowWhilePending: p.ShowWhilePending,
			HideOnceFinished: p.HideOnceFinished, LinkType: lt})
	}
	var types []string
	if lt := in.TaskConfig["link_type"]; lt != "" {
		types = strings.Split(lt, ",")
	}
	for _, t := range types {
		for _, u := range p.DynamicTemplateURIs {
			if p.Name != t {
				continue
			}
			for _, m := range refCfgRe.FindAllStringSubmatch(u, -1) {
				if v, found := in.TaskConfig[m[1]]; found {
					vars = append(vars, refVar{refDynRegex(m[1]), v})
				}
			}
			out = append(out, Link{Name: p.DisplayName + in.LogName, URI: refReplaceAll(u, vars),
				MessageFormat: mf, ShowWhilePending: p.ShowWhilePending, HideOnceFinished: p.HideOnceFinished, LinkType: lt})
		}
	}
	return out
}

func refRender(c LogConfig, in Input) []Link {
	var out []Link
	for _, p := range c.Templates() {
		out = append(out, refPlugin(p, in)...)
	}
	return out
}

// ---------------------------------------------------------------------------

func fullInput() Input {
	return Input{
		HostName:             "my-host",
		PodName:              "my-pod",
		Namespace:            "my-namespace",
		ContainerName:        "my-container",
		ContainerID:          "docker://containerID",
		LogName:              " (User)",
		PodRFC3339StartTime:  "1970-01-01T01:02:03+01:00",
		PodRFC3339FinishTime: "1970-01-01T04:25:45+01:00",
		PodUnixStartTime:     123,
		PodUnixFinishTime:    12345,
		PodUID:               "my-pod-uid",
		NodeName:             "ip-1-2-3-4",
		TaskExecution: TaskExecution{
			TaskProject: "my-task-project", TaskDomain: "my-task-domain", TaskName: "my-task-name", TaskVersion: "1",
			ExecutionProject: "my-execution-project", ExecutionDomain: "my-execution-domain", ExecutionName: "my-execution-name",
			NodeID: "unique-node", RetryAttempt: 1, GeneratedName: "generated-name",
		},
		ExtraVars: map[string]string{"rayClusterName": "ray-cluster", "rayJobID": "ray-job-1"},
	}
}

func TestVariables(t *testing.T) {
	in := fullInput()
	tests := []struct{ tmpl, want string }{
		{"{{ .logName }}", " (User)"},
		{"{{ .podName }}", "my-pod"},
		{"{{ .podUID }}", "my-pod-uid"},
		{"{{ .namespace }}", "my-namespace"},
		{"{{ .containerName }}", "my-container"},
		{"{{ .containerID }}", "containerID"},
		{"{{ .hostname }}", "my-host"},
		{"{{ .nodeName }}", "ip-1-2-3-4"},
		{"{{ .nodeID }}", "unique-node"},
		{"{{ .generatedName }}", "generated-name"},
		{"{{ .taskRetryAttempt }}", "1"},
		{"{{ .taskID }}", "my-task-name"},
		{"{{ .taskVersion }}", "1"},
		{"{{ .taskProject }}", "my-task-project"},
		{"{{ .taskDomain }}", "my-task-domain"},
		{"{{ .executionName }}", "my-execution-name"},
		{"{{ .executionProject }}", "my-execution-project"},
		{"{{ .executionDomain }}", "my-execution-domain"},
		{"{{ .podRFC3339StartTime }}", "1970-01-01T01:02:03+01:00"},
		{"{{ .podRFC3339FinishTime }}", "1970-01-01T04:25:45+01:00"},
		{"{{ .podUnixStartTime }}", "123"},
		{"{{ .podUnixFinishTime }}", "12345"},
		{"{{ .rayClusterName }}", "ray-cluster"},
		{"{{ .rayJobID }}", "ray-job-1"},
		// case-insensitivity, $ form, optional/odd spaces
		{"{{.NAMESPACE}}", "my-namespace"},
		{"{{ $namespace }}", "my-namespace"},
		{"{{\t$PodName\n}}", "my-pod"},
		{"{{    .containerId}}", "containerID"},
		{"{{ .taſkID }}", "my-task-name"}, // RE2 (?i) folds U+017F to s
		{"{{ .RAYJOBID }}", "ray-job-1"},
		// not variables
		{"{{ namespace }}", "{{ namespace }}"},
		{"{{ .namespace }", "{{ .namespace }"},
		{"{ .namespace }}", "{ .namespace }}"},
		{"{{ .namespace\v}}", "{{ .namespace\v}}"},
		{"{{ .unknown }}", "{{ .unknown }}"},
		{"{{ .taskConfig.port }}", "{{ .taskConfig.port }}"},
		{"{{{ .namespace }}}", "{my-namespace}"},
		{"a{{.podName}}b{{.podName}}c", "amy-podbmy-podc"},
	}
	for _, tt := range tests {
		t.Run(tt.tmpl, func(t *testing.T) {
			require.Equal(t, tt.want, ExpandTemplate(tt.tmpl, in))
			require.Equal(t, refReplaceAll(tt.tmpl, refVars(in)), tt.want)
		})
	}
}

func TestEmptyValues(t *testing.T) {
	in := Input{Namespace: "ns"}
	tests := []struct{ tmpl, want string }{
		{"{{ .podName }}/{{ .namespace }}", "{{ .podName }}/ns"},
		{"{{ .logName }}{{ .podUID }}{{ .containerID }}{{ .hostname }}{{ .nodeName }}", "{{ .logName }}{{ .podUID }}{{ .containerID }}{{ .hostname }}{{ .nodeName }}"},
		{"{{ .nodeID }}{{ .generatedName }}{{ .taskID }}{{ .executionName }}", "{{ .nodeID }}{{ .generatedName }}{{ .taskID }}{{ .executionName }}"},
		{"{{ .podRFC3339StartTime }}|{{ .podUnixStartTime }}|{{ .podUnixFinishTime }}", "{{ .podRFC3339StartTime }}|0|0"},
		{"attempt/{{ .taskRetryAttempt }}", "attempt/0"},
		{"{{ .rayJobID }}", "{{ .rayJobID }}"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, ExpandTemplate(tt.tmpl, in), tt.tmpl)
	}
	in.ExtraVars = map[string]string{"rayJobID": ""}
	require.Equal(t, "{{ .rayJobID }}", ExpandTemplate("{{ .rayJobID }}", in))
	// Ray TestGetEventInfo_LogTemplates: creation timestamp at unix 0.
	in.PodRFC3339StartTime = "1970-01-01T00:00:00Z"
	require.Equal(t, "http://test/1970-01-01T00:00:00Z/0", ExpandTemplate("http://test/{{ .PodRFC3339StartTime }}/{{ .PodUnixStartTime }}", in))
}

func TestContainerID(t *testing.T) {
	for id, want := range map[string]string{"docker://abc": "abc", "containerd://x://y": "x", "plain": "plain", "://": "{{.containerID}}"} {
		require.Equal(t, want, ExpandTemplate("{{.containerID}}", Input{ContainerID: id}), id)
	}
}

func TestKnownFlyteResults(t *testing.T) {
	in := fullInput()
	in.Namespace = "test-namespace"
	in.LogName = ""
	c := LogConfig{TemplatePlugins: []TemplateLogPlugin{
		{DisplayName: "name1", TemplateURIs: []string{"http://test/{{ .namespace }}"}},
		{DisplayName: "name2", TemplateURIs: []string{"http://test/projects/{{ .executionProject }}/domains/{{ .executionDomain }}/executions/{{ .executionName }}/nodeId/{{ .nodeID }}/taskId/{{ .taskID }}/attempt/{{ .taskRetryAttempt }}"}},
		{DisplayName: "name3", TemplateURIs: []string{"http://test/{{ .rayClusterName }}"}},
		{DisplayName: "name4", TemplateURIs: []string{"http://test/{{ .rayJobID }}"}},
	}}
	links, err := Render(c, in)
	require.NoError(t, err)
	require.Equal(t, []Link{
		{Name: "name1", URI: "http://test/test-namespace"},
		{Name: "name2", URI: "http://test/projects/my-execution-project/domains/my-execution-domain/executions/my-execution-name/nodeId/unique-node/taskId/my-task-name/attempt/1"},
		{Name: "name3", URI: "http://test/ray-cluster"},
		{Name: "name4", URI: "http://test/ray-job-1"},
	}, links)

	// Spark: kubernetes-url without template.
	links, err = Render(LogConfig{IsKubernetesEnabled: true, KubernetesURL: "k8s.com"},
		Input{PodName: "spark-pod", Namespace: "spark-namespace", LogName: "(Driver Logs)"})
	require.NoError(t, err)
	require.Equal(t, []Link{{Name: "Kubernetes Logs(Driver Logs)", URI: "k8s.com/#!/log/spark-namespace/spark-pod/pod?namespace=spark-namespace", MessageFormat: "JSON"}}, links)

	// Cloudwatch default template from region and log group.
	links, err = Render(LogConfig{IsCloudwatchEnabled: true, CloudwatchRegion: "us-east-1", CloudwatchLogGroup: "/kubernetes/flyte"},
		Input{PodName: "p", Namespace: "n", ContainerName: "c", ContainerID: "docker://cid", LogName: " Suffix"})
	require.NoError(t, err)
	require.Equal(t, []Link{{Name: "Cloudwatch Logs Suffix", MessageFormat: "JSON",
		URI: "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:group=/kubernetes/flyte;stream=var.log.containers.p_n_c-cid.log"}}, links)

	// Stackdriver default template.
	links, err = Render(LogConfig{IsStackDriverEnabled: true, GCPProjectName: "myGCPProject", StackdriverLogResourceName: "aws_ec2_instance"}, Input{PodName: "p"})
	require.NoError(t, err)
	require.Equal(t, []Link{{Name: "Stackdriver Logs", MessageFormat: "JSON",
		URI: "https://console.cloud.google.com/logs/viewer?project=myGCPProject&angularJsUrl=%2Flogs%2Fviewer%3Fproject%3DmyGCPProject&resource=aws_ec2_instance&advancedFilter=resource.labels.pod_name%3Dp"}}, links)

	// Default config.
	links, err = Render(DefaultLogConfig(), Input{PodName: "p", Namespace: "n"})
	require.NoError(t, err)
	require.Equal(t, []Link{{Name: "Kubernetes Logs", MessageFormat: "JSON", URI: "http://localhost:30082/#!/log/n/p/pod?namespace=n"}}, links)
}

func TestBuiltinsOrder(t *testing.T) {
	c := LogConfig{
		IsKubernetesEnabled: true, KubernetesTemplateURI: "https://k8s/{{ .namespace }}/{{ .podName }}/{{ .containerName }}/{{ .containerId }}",
		IsCloudwatchEnabled: true, CloudwatchTemplateURI: "https://cw/{{ .namespace }}/{{ .podName }}/{{ .containerName }}/{{ .containerId }}",
		IsStackDriverEnabled: true, StackDriverTemplateURI: "https://sd/{{ .namespace }}/{{ .podName }}/{{ .containerName }}/{{ .containerId }}",
		TemplatePlugins: []TemplateLogPlugin{{DisplayName: "Internal", TemplateURIs: []string{"https://a/{{ .podName }}", "https://b"}, MessageFormat: "json", LinkType: "Dashboard", ShowWhilePending: true, HideOnceFinished: true}},
		DynamicLogLinks: map[string]TemplateLogPlugin{
			"zeta":   {DisplayName: "Z", TemplateURIs: []string{"https://z"}},
			"vscode": {DisplayName: "vscode link", TemplateURIs: []string{"https://v:{{ .taskConfig.port }}"}, LinkType: "IDE", MessageFormat: "CSV"},
		},
	}
	names := []string{}
	for _, p := range c.Templates() {
		names = append(names, p.DisplayName+"|"+p.Name)
	}
	require.Equal(t, []string{"Kubernetes Logs|", "Cloudwatch Logs|", "Stackdriver Logs|", "Internal|", "vscode link|vscode", "Z|zeta"}, names)
	dyn := c.Templates()[4]
	require.Equal(t, TemplateLogPlugin{Name: "vscode", DisplayName: "vscode link", DynamicTemplateURIs: []string{"https://v:{{ .taskConfig.port }}"}, MessageFormat: "JSON", LinkType: "IDE"}, dyn)

	in := Input{PodName: "my-pod", Namespace: "my-namespace", ContainerName: "ContainerName", ContainerID: "ContainerID", LogName: " my-Suffix",
		TaskConfig: map[string]string{"link_type": "zeta,vscode", "port": "65535"}}
	links, err := Render(c, in)
	require.NoError(t, err)
	require.Equal(t, []Link{
		{Name: "Kubernetes Logs my-Suffix", URI: "https://k8s/my-namespace/my-pod/ContainerName/ContainerID", MessageFormat: "JSON"},
		{Name: "Cloudwatch Logs my-Suffix", URI: "https://cw/my-namespace/my-pod/ContainerName/ContainerID", MessageFormat: "JSON"},
		{Name: "Stackdriver Logs my-Suffix", URI: "https://sd/my-namespace/my-pod/ContainerName/ContainerID", MessageFormat: "JSON"},
		{Name: "Internal my-Suffix", URI: "https://a/my-pod", MessageFormat: "JSON", ShowWhilePending: true, HideOnceFinished: true, LinkType: "dashboard"},
		{Name: "Internal my-Suffix", URI: "https://b", MessageFormat: "JSON", ShowWhilePending: true, HideOnceFinished: true, LinkType: "dashboard"},
		{Name: "vscode link my-Suffix", URI: "https://v:65535", MessageFormat: "JSON", LinkType: "ide"},
		{Name: "Z my-Suffix", URI: "https://z", MessageFormat: "JSON"},
	}, links)
	require.Equal(t, refRender(c, in), links)

	links, err = Render(LogConfig{}, in)
	require.NoError(t, err)
	require.Nil(t, links)
}

func TestDynamicLinks(t *testing.T) {
	vscode := func(uri string) LogConfig {
		return LogConfig{DynamicLogLinks: map[string]TemplateLogPlugin{"vscode": {DisplayName: "vscode link", TemplateURIs: []string{uri}}}}
	}
	base := Input{PodName: "my-pod", Namespace: "my-namespace", ContainerName: "ContainerName", ContainerID: "ContainerID", LogName: " my-Suffix"}
	withCfg := func(cfg map[string]string) Input { in := base; in.TaskConfig = cfg; return in }
	tests := []struct {
		name string
		c    LogConfig
		in   Input
		want []Link
	}{
		{"no task template", vscode("https://x:{{ .taskConfig.port }}/{{ .namespace }}"), base, nil},
		{"empty config", vscode("https://x:{{ .taskConfig.port }}"), withCfg(map[string]string{}), nil},
		{"disabled but config present", LogConfig{}, withCfg(map[string]string{"link_type": "vscode", "port": "65535"}), nil},
		{"multiple options", vscode("https://abc.com:{{ .taskConfig.port }}/{{ .taskConfig.route }}"),
			withCfg(map[string]string{"link_type": "vscode", "port": "65535", "route": "a-route"}),
			[]Link{{Name: "vscode link my-Suffix", URI: "https://abc.com:65535/a-route", MessageFormat: "JSON"}}},
		{"repeated use", vscode("https://abc.com:{{ .taskConfig.port }}:{{ .taskConfig.port}}"),
			withCfg(map[string]string{"link_type": "vscode", "port": "65535"}),
			[]Link{{Name: "vscode link my-Suffix", URI: "https://abc.com:65535:65535", MessageFormat: "JSON"}}},
		{"with k8s", LogConfig{IsKubernetesEnabled: true, KubernetesTemplateURI: "https://k8s.com/{{ .namespace }}",
			DynamicLogLinks: map[string]TemplateLogPlugin{"vscode": {DisplayName: "vscode link", TemplateURIs: []string{"https://fi.com:{{ .taskConfig.port }}/{{ .podName }}"}}}},
			withCfg(map[string]string{"link_type": "vscode", "port": "65535"}),
			[]Link{{Name: "Kubernetes Logs my-Suffix", URI: "https://k8s.com/my-namespace", MessageFormat: "JSON"},
				{Name: "vscode link my-Suffix", URI: "https://fi.com:65535/my-pod", MessageFormat: "JSON"}}},
		{"mixed test-dynamic-link", LogConfig{DynamicLogLinks: map[string]TemplateLogPlugin{"test-dynamic-link": {TemplateURIs: []string{"https://some-service.com/{{.taskConfig.dynamicParam}}"}}}},
			Input{TaskConfig: map[string]string{"link_type": "test-dynamic-link", "dynamicParam": "dynamic-value"}},
			[]Link{{URI: "https://some-service.com/dynamic-value", MessageFormat: "JSON"}}},
		{"missing key stays", vscode("https://x/{{ .taskConfig.missing }}"), withCfg(map[string]string{"link_type": "vscode"}),
			[]Link{{Name: "vscode link my-Suffix", URI: "https://x/{{ .taskConfig.missing }}", MessageFormat: "JSON"}}},
		{"names are not trimmed", vscode("https://x"), withCfg(map[string]string{"link_type": "a, vscode"}), nil},
		{"listed twice", vscode("https://x"), withCfg(map[string]string{"link_type": "vscode,vscode"}),
			[]Link{{Name: "vscode link my-Suffix", URI: "https://x", MessageFormat: "JSON"}, {Name: "vscode link my-Suffix", URI: "https://x", MessageFormat: "JSON"}}},
		{"templates entry with dynamicTemplateUris", LogConfig{TemplatePlugins: []TemplateLogPlugin{{Name: "dyn", DisplayName: "D{{.podName}}", TemplateURIs: []string{"s/{{.podName}}"}, DynamicTemplateURIs: []string{"d/{{ $TASKCONFIG$Port }}"}}}},
			withCfg(map[string]string{"link_type": "dyn", "Port": "1"}),
			[]Link{{Name: "Dmy-pod my-Suffix", URI: "s/my-pod"}, {Name: "D{{.podName}} my-Suffix", URI: "d/1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.c, tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, refRender(tt.c, tt.in), got)
		})
	}
}

func TestLinkTypeAndMessageFormat(t *testing.T) {
	for in, want := range map[string]string{"": "", "external": "", "EXTERNAL": "", "dashboard": "dashboard", "Dashboard": "dashboard", "ide": "ide", "IDE": "ide"} {
		got, err := ParseLinkType(in)
		require.NoError(t, err)
		require.Equal(t, want, got, in)
	}
	_, err := ParseLinkType("dashbaord")
	require.Error(t, err)
	for in, want := range map[string]string{"": "", "0": "", "unknown": "", "1": "CSV", "csv": "CSV", "2": "JSON", "Json": "JSON"} {
		got, err := ParseMessageFormat(in)
		require.NoError(t, err)
		require.Equal(t, want, got, in)
	}
	_, err = ParseMessageFormat("XML")
	require.Error(t, err)

	_, err = Render(LogConfig{TemplatePlugins: []TemplateLogPlugin{{DisplayName: "x", TemplateURIs: []string{"u"}, LinkType: "bogus"}}}, Input{})
	require.ErrorContains(t, err, `template "x": invalid linkType "bogus"`)
	_, err = Render(LogConfig{TemplatePlugins: []TemplateLogPlugin{{DisplayName: "x", MessageFormat: "XML"}}}, Input{})
	require.Error(t, err)

	require.NoError(t, LogConfig{TemplatePlugins: []TemplateLogPlugin{{Scheme: "Pod"}, {Scheme: "TaskExecution"}, {Scheme: "1"}}}.Validate())
	require.Error(t, LogConfig{TemplatePlugins: []TemplateLogPlugin{{Scheme: "pod"}}}.Validate())
	require.Error(t, LogConfig{DynamicLogLinks: map[string]TemplateLogPlugin{"a": {LinkType: "x"}}}.Validate())
}

func TestConfigJSON(t *testing.T) {
	raw := `{"cloudwatch-enabled":true,"cloudwatch-region":"r","cloudwatch-log-group":"g","cloudwatch-template-uri":"c",
	"kubernetes-enabled":true,"kubernetes-url":"k","kubernetes-template-uri":"kt","stackdriver-enabled":true,"gcp-project":"p",
	"stackdriver-logresourcename":"s","stackdriver-template-uri":"st",
	"dynamic-log-links":{"vscode":{"displayName":"V","templateUris":["u"]}},
	"templates":[{"name":"n","displayName":"d","templateUris":["t"],"dynamicTemplateUris":["dt"],"messageFormat":"JSON","scheme":"Pod","showWhilePending":true,"hideOnceFinished":true,"linkType":"dashboard"}]}`
	var c LogConfig
	require.NoError(t, json.Unmarshal([]byte(raw), &c))
	require.Equal(t, LogConfig{
		IsCloudwatchEnabled: true, CloudwatchRegion: "r", CloudwatchLogGroup: "g", CloudwatchTemplateURI: "c",
		IsKubernetesEnabled: true, KubernetesURL: "k", KubernetesTemplateURI: "kt",
		IsStackDriverEnabled: true, GCPProjectName: "p", StackdriverLogResourceName: "s", StackDriverTemplateURI: "st",
		DynamicLogLinks: map[string]TemplateLogPlugin{"vscode": {DisplayName: "V", TemplateURIs: []string{"u"}}},
		TemplatePlugins: []TemplateLogPlugin{{Name: "n", DisplayName: "d", TemplateURIs: []string{"t"}, DynamicTemplateURIs: []string{"dt"},
			MessageFormat: "JSON", Scheme: "Pod", ShowWhilePending: true, HideOnceFinished: true, LinkType: "dashboard"}},
	}, c)
	require.NoError(t, c.Validate())
}

// TestSequentialEdgeCases pins behaviour that only Flyte's one-regexp-per-variable
// substitution produces (values completing placeholders for later variables).
func TestSequentialEdgeCases(t *testing.T) {
	in := Input{LogName: "Name", PodName: "P", Namespace: "{{ .podName }}", ExtraVars: map[string]string{"x": "{{.namespace}}"}}
	tests := []struct{ tmpl, want string }{
		{"{{ .pod{{.logName}} }}", "P"},       // logName completes {{ .podName }}
		{"{{.namespace}}", "{{ .podName }}"},  // podName's pass ran before namespace's
		{"{{.x}}", "{{ .podName }}"},          // extra -> namespace placeholder -> namespace value
		{"{{.podName}}{{.logName}}", "PName"}, // plain
		{"{{{.x}}}", "{{{ .podName }}}"},
	}
	for _, tt := range tests {
		ref := refReplaceAll(tt.tmpl, refVars(in))
		require.Equal(t, ref, ExpandTemplate(tt.tmpl, in), tt.tmpl)
		require.Equal(t, tt.want, ref, tt.tmpl)
	}

	// Dynamic links: '.' in `{{\s*.taskConfig` matches any rune, even a brace.
	dyn := []struct{ uri, want string }{
		{"{{.taskConfig.port}}{{}taskConfig.p{{.logName}}}}", "11"},
		{"{{.taskConfig.port}}/{{ {taskConfig.p{{.logName}}}}", "1/1"},
		{"{{.taskConfig.port}}/{{{taskConfig.p{{.logName}}}}", "1/1"},
		{"{{ taskConfig.port }}|{{{TaſKConfig$PORT}}", "1|1"},
		{"{{..taskConfig.port}}", "{{..taskConfig.port}}"},
	}
	for _, tt := range dyn {
		c := LogConfig{DynamicLogLinks: map[string]TemplateLogPlugin{"d": {TemplateURIs: []string{tt.uri}}}}
		in := Input{LogName: "ort", TaskConfig: map[string]string{"link_type": "d", "port": "1"}}
		got, err := Render(c, in)
		require.NoError(t, err)
		require.Equal(t, refRender(c, in), got, tt.uri)
		require.Equal(t, tt.want, got[0].URI, tt.uri)
	}
}

// TestDifferential compares the engine with the regexp reference on random
// templates, values and configs.
func TestDifferential(t *testing.T) {
	frags := []string{"{{", "}}", "{", "}", " ", "\t", "\n", "\v", ".", "$", "x", "/", "-", "podName", "PODNAME", "namespace",
		"logName", "taskConfig", "TASKCONFIG", "port", "Port", "ſ", "K", "k", "s", "nodeID", "taskRetryAttempt", "podUnixStartTime",
		"rayJobID", "containerId", "pod", "Name", "taskCon", "fig", ":", "é", "_", "{{ .namespace }}", "{{ .taskConfig.port }}",
		"{{.logName}}", "{{ $podName }}", "{{ .podRFC3339StartTime }}", "{{ .rayJobID }}", "{{ .taskConfig.Route }}", "\xff",
		"{{}taskConfig.p", "{{ {taskConfig.", "ort}}", "{{.pod", "Name }}", "{{ $taskconfig$"}
	vals := []string{"", "", "v", "a b", "{{", "}}", "{", "}", "{{ .namespace }}", "Name", "pod", ".podName", " ", "$", "x{{",
		"{{.taskConfig.port}}", "taskConfig.port }}", "ns", "Name }}", "}} {{", "ort", "Name"}
	// A small alphabet to hit structures where values complete placeholders.
	small := []string{"{{", "}}", " ", ".", "{", "}", "pod", "Name", "{{.logName}}", "{{.Namespace}}", "taskConfig",
		"port", "{{.taskConfig.port}}", "{{ .rayJobID }}"}
	smallVals := []string{"Name", "ort", "", "pod", "{{.pod", "}}", "x", "taskConfig.port"}
	rng := rand.New(rand.NewSource(42))
	pick := func(xs []string) string { return xs[rng.Intn(len(xs))] }
	tmpl := func() string {
		var b strings.Builder
		for n := rng.Intn(10); n >= 0; n-- {
			b.WriteString(pick(frags))
		}
		return b.String()
	}
	iters := 20000
	if testing.Short() {
		iters = 2000
	}
	for i := 0; i < iters; i++ {
		if i%2 == 1 {
			frags, small = small, frags
			vals, smallVals = smallVals, vals
		}
		in := Input{LogName: pick(vals), PodName: pick(vals), Namespace: pick(vals), ContainerID: pick(vals),
			PodRFC3339StartTime: pick(vals), PodUnixStartTime: int64(rng.Intn(3)),
			TaskExecution: TaskExecution{NodeID: pick(vals), RetryAttempt: uint32(rng.Intn(3))}}
		if rng.Intn(2) == 0 {
			in.ExtraVars = map[string]string{"rayJobID": pick(vals), "RAYJOBID": pick(vals), "k": pick(vals)}
			if rng.Intn(2) == 0 {
				in.ExtraVars["namespace"] = pick(vals)
			}
		}
		if rng.Intn(2) == 0 {
			in.TaskConfig = map[string]string{"link_type": pick([]string{"d", "d,d", "x", ",d", ""}), "port": pick(vals), "Route": pick(vals), "PORT": pick(vals)}
		}
		c := LogConfig{
			IsKubernetesEnabled: rng.Intn(2) == 0, KubernetesURL: pick(vals),
			TemplatePlugins: []TemplateLogPlugin{{DisplayName: tmpl(), TemplateURIs: []string{tmpl(), tmpl()}, Name: pick([]string{"d", ""}), DynamicTemplateURIs: []string{tmpl()}}},
			DynamicLogLinks: map[string]TemplateLogPlugin{"d": {DisplayName: tmpl(), TemplateURIs: []string{tmpl(), tmpl()}}},
		}
		got, err := Render(c, in)
		require.NoError(t, err)
		want := refRender(c, in)
		if len(want) == 0 {
			want = nil
		}
		require.Equal(t, want, got, "input %#v config %#v", in, c)

		// The fallback engine alone must also be exact.
		s := tmpl()
		r := newRenderer(&in)
		require.Equal(t, refReplaceAll(s, refVars(in)), r.sequential(s, false), "%q", s)
	}
}

func TestRenderAllocs(t *testing.T) {
	c := benchConfig()
	in := benchInput()
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Render(c, in); err != nil {
			t.Fatal(err)
		}
	})
	// 1 slice + (name, uri) per link at most.
	require.LessOrEqual(t, allocs, 8.0)
}

func benchConfig() LogConfig {
	c := DefaultLogConfig()
	c.IsCloudwatchEnabled = true
	c.CloudwatchTemplateURI = "https://cw/{{ .namespace }}/{{ .podName }}_{{ .containerName }}-{{ .containerId }}.log?start={{ .podUnixStartTime }}&end={{ .podUnixFinishTime }}"
	c.TemplatePlugins = []TemplateLogPlugin{{DisplayName: "Dask Dashboard", LinkType: "dashboard",
		TemplateURIs: []string{"https://flyte.example.com/dask/{{ .namespace }}/{{ .generatedName }}/status"}}}
	return c
}

func benchInput() Input {
	in := fullInput()
	in.PodUnixStartTime = 1700000000
	in.PodUnixFinishTime = 1700000123
	return in
}

func BenchmarkRender(b *testing.B) {
	c := benchConfig()
	in := benchInput()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(c, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReferenceRegexp(b *testing.B) {
	c := benchConfig()
	in := benchInput()
	b.ReportAllocs()
	for b.Loop() {
		refRender(c, in)
	}
}
