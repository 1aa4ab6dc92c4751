package main

// The deployment files checked the way their tools read them (there is no
// Docker engine or cluster here), and against the binary's real commands
// and flags: deploy/Dockerfile and deploy/k8s here, docker-compose.yml in
// compose_process_test.go.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/creditgate/creditgate/worker"
)

// repoRoot is the repository's top directory (tests run in cmd/creditgate).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"))
	return root
}

// pendingList is the Redis list in which asynq keeps the tasks waiting in
// the worker's queue: what the KEDA scaler measures.
func pendingList() string { return "asynq:{" + worker.Queue + "}:pending" }

// copyFiles copies the repository files rel into dir, keeping their paths.
func copyFiles(t testing.TB, dir string, rel ...string) {
	t.Helper()
	for _, r := range rel {
		b, err := os.ReadFile(filepath.Join(repoRoot(t), r))
		require.NoError(t, err)
		dst := filepath.Join(dir, r)
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		require.NoError(t, os.WriteFile(dst, b, 0o644))
	}
}

// dockerInstr is one Dockerfile instruction, continuation lines joined.
type dockerInstr struct{ cmd, args string }

func readDockerfile(t testing.TB) []dockerInstr {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "Dockerfile"))
	require.NoError(t, err)
	var out []dockerInstr
	var cur strings.Builder
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if more, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstr{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// execForm parses a JSON-array ("exec form") instruction argument.
func execForm(t testing.TB, s string) []string {
	t.Helper()
	var v []string
	require.NoError(t, json.Unmarshal([]byte(s), &v), "want exec form, got %s", s)
	return v
}

func TestDockerfileMatchesBinary(t *testing.T) {
	t.Parallel()
	ins := readDockerfile(t)
	var stages [][]dockerInstr
	for _, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		require.NotEmpty(t, stages, "Dockerfile starts with FROM")
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	require.GreaterOrEqual(t, len(stages), 2, "multi-stage")
	build, final := stages[0], stages[len(stages)-1]
	require.True(t, strings.HasSuffix(build[0].args, " AS build"), build[0].args)
	require.Regexp(t, `^gcr\.io/distroless/static|^scratch$`, final[0].args, "small, static final image")

	// The build compiles this package, statically, to the path the final
	// stage copies.
	var goBuild []string
	for _, in := range build {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			goBuild = strings.Fields(in.args)
		}
	}
	require.NotNil(t, goBuild, "a RUN go build")
	require.Contains(t, goBuild, "CGO_ENABLED=0")
	out := goBuild[slices.Index(goBuild, "-o")+1]
	pkg := goBuild[len(goBuild)-1]
	here, err := os.Getwd()
	require.NoError(t, err)
	require.Equal(t, here, filepath.Join(repoRoot(t), pkg), "go build target")
	require.FileExists(t, filepath.Join(here, "main.go"))

	last := map[string]string{}
	var copied string
	for _, in := range final {
		last[in.cmd] = in.args
		if in.cmd == "COPY" && strings.Contains(in.args, "--from=build "+out+" ") {
			copied = strings.Fields(in.args)[2]
		}
	}
	require.NotEmpty(t, copied, "final stage copies %s", out)
	require.NotContains(t, []string{"", "root", "0", "root:root", "0:0"}, last["USER"], "non-root")
	entry := execForm(t, last["ENTRYPOINT"])
	require.Equal(t, []string{copied}, entry)
	_, port, err := net.SplitHostPort(settingDefault(t, "CREDITGATE_LISTEN"))
	require.NoError(t, err)
	require.Equal(t, port, last["EXPOSE"])

	// CMD is a command run accepts.
	cmd := execForm(t, last["CMD"])
	require.NotEmpty(t, cmd)
	code, _, errOut := cli(t, "sqlite:"+filepath.Join(t.TempDir(), "l.db"), append(cmd, "--help")...)
	require.Equal(t, 0, code, "CMD %v: %s", cmd, errOut)

	// HEALTHCHECK runs the binary and succeeds against a running creditgate
	// listening where CREDITGATE_LISTEN says.
	hc := last["HEALTHCHECK"]
	_, hcCmd, ok := strings.Cut(hc, "CMD ")
	require.True(t, ok, "HEALTHCHECK %s", hc)
	probe := execForm(t, hcCmd)
	require.Equal(t, copied, probe[0])
	vars := map[string]string{
		"DATABASE_URL":          "sqlite:" + filepath.Join(t.TempDir(), "ledger.db"),
		"CALCOM_WEBHOOK_SECRET": testSecret,
		"CREDITGATE_LISTEN":     "127.0.0.1:0",
	}
	base := startRun(t, cmd, vars, &syncBuffer{}, &syncBuffer{})
	listen := strings.TrimPrefix(base, "http://")
	var stdout, stderr syncBuffer
	err = run(context.Background(), probe[1:], func(k string) string {
		if k == "CREDITGATE_LISTEN" {
			return listen
		}
		return ""
	}, strings.NewReader(""), &stdout, &stderr)
	require.NoError(t, err, "HEALTHCHECK %v", probe)
}

func settingDefault(t testing.TB, name string) string {
	t.Helper()
	for _, s := range settings {
		if s.env == name {
			return s.def
		}
	}
	t.Fatalf("no setting %s", name)
	return ""
}

// secretData decodes a built Secret's data.
func secretData(t testing.TB, data map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range data {
		b, err := base64.StdEncoding.DecodeString(v)
		require.NoError(t, err)
		out[k] = string(b)
	}
	return out
}

// k8sObject is the part of a Kubernetes object these tests read.
type k8sObject struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Data map[string]string `json:"data"`
	Spec struct {
		Replicas *int `json:"replicas"`
		// A map of labels in a Service, {"matchLabels": ...} elsewhere.
		Selector json.RawMessage `json:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Spec podSpec `json:"spec"`
		} `json:"template"`
		// Service
		Ports []struct {
			Port       int `json:"port"`
			TargetPort any `json:"targetPort"`
		} `json:"ports"`
		// PodDisruptionBudget
		MinAvailable any `json:"minAvailable"`
		// ScaledObject and HorizontalPodAutoscaler
		ScaleTargetRef struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount int `json:"minReplicaCount"`
		MaxReplicaCount int `json:"maxReplicaCount"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
		Metrics []struct {
			Resource struct {
				Name string `json:"name"`
			} `json:"resource"`
		} `json:"metrics"`
	} `json:"spec"`
}

// selector is the labels an object selects pods by.
func selector(t testing.TB, o k8sObject) map[string]string {
	t.Helper()
	var labels map[string]string
	if o.Kind == "Service" {
		require.NoError(t, json.Unmarshal(o.Spec.Selector, &labels))
		return labels
	}
	var sel struct {
		MatchLabels map[string]string `json:"matchLabels"`
	}
	require.NoError(t, json.Unmarshal(o.Spec.Selector, &sel))
	return sel.MatchLabels
}

type podSpec struct {
	RestartPolicy   string `json:"restartPolicy"`
	SecurityContext struct {
		RunAsNonRoot bool `json:"runAsNonRoot"`
	} `json:"securityContext"`
	Containers []struct {
		Name    string   `json:"name"`
		Image   string   `json:"image"`
		Command []string `json:"command"`
		Args    []string `json:"args"`
		EnvFrom []struct {
			ConfigMapRef *struct{ Name string } `json:"configMapRef"`
			SecretRef    *struct{ Name string } `json:"secretRef"`
		} `json:"envFrom"`
		Ports []struct {
			Name          string `json:"name"`
			ContainerPort int    `json:"containerPort"`
		} `json:"ports"`
		LivenessProbe  *httpProbe `json:"livenessProbe"`
		ReadinessProbe *httpProbe `json:"readinessProbe"`
		Resources      struct {
			Requests map[string]string `json:"requests"`
		} `json:"resources"`
	} `json:"containers"`
}

type httpProbe struct {
	HTTPGet *struct {
		Path string `json:"path"`
		Port any    `json:"port"`
	} `json:"httpGet"`
}

// buildKustomization runs kustomize on a copy of deploy/k8s, with
// base/secret.env made from its example, at dir inside it.
func buildKustomization(t testing.TB, dir string) map[string]k8sObject {
	t.Helper()
	root := repoRoot(t)
	tmp := t.TempDir()
	var files []string
	require.NoError(t, filepath.WalkDir(filepath.Join(root, "deploy", "k8s"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != "secret.env" {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return err
	}))
	copyFiles(t, tmp, files...)
	k8s := filepath.Join(tmp, "deploy", "k8s")
	example, err := os.ReadFile(filepath.Join(k8s, "base", "secret.env.example"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(k8s, "base", "secret.env"), example, 0o600))

	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(k8s, dir))
	require.NoError(t, err)
	objs := map[string]k8sObject{}
	for _, r := range rm.Resources() {
		b, err := r.MarshalJSON()
		require.NoError(t, err)
		var o k8sObject
		require.NoError(t, json.Unmarshal(b, &o))
		name := o.Metadata.Name
		if o.Kind == "ConfigMap" || o.Kind == "Secret" {
			name = "creditgate" // generated: the name has a content hash
		}
		key := o.Kind + "/" + name
		require.NotContains(t, objs, key)
		objs[key] = o
	}
	return objs
}

func TestKustomization(t *testing.T) {
	t.Parallel()
	objs := buildKustomization(t, ".")
	get := func(key string) k8sObject {
		o, ok := objs[key]
		require.True(t, ok, "kustomization yields %s; it has %v", key, slices.Sorted(maps.Keys(objs)))
		return o
	}
	cm, secret := get("ConfigMap/creditgate"), get("Secret/creditgate")
	env := map[string]string{}
	maps.Copy(env, cm.Data)
	maps.Copy(env, secretData(t, secret.Data))
	for k := range env {
		require.True(t, isSetting(k) || k == "REDIS_ADDRESS" || k == "REDIS_PASSWORD", "%s is not a creditgate setting", k)
	}
	require.NotEmpty(t, env["DATABASE_URL"])
	require.NotEmpty(t, env["REDIS_URL"])
	require.NotEmpty(t, env["CALCOM_WEBHOOK_SECRET"])
	_, port, err := net.SplitHostPort(env["CREDITGATE_LISTEN"])
	require.NoError(t, err)

	workloads := map[string]string{"Deployment/creditgate-ingest": "ingest", "Deployment/creditgate-worker": "worker",
		"Job/creditgate-migrate": "migrate"}
	for key, role := range workloads {
		o := get(key)
		pod := o.Spec.Template.Spec
		require.True(t, pod.SecurityContext.RunAsNonRoot, key)
		require.Len(t, pod.Containers, 1, key)
		c := pod.Containers[0]
		require.Equal(t, "registry.example.com/creditgate:latest", c.Image, key)
		require.Empty(t, c.Command, "%s: the image's entrypoint is the binary", key)
		require.Equal(t, []string{role}, c.Args, key)
		require.NotEmpty(t, c.Resources.Requests["cpu"], key)
		require.NotEmpty(t, c.Resources.Requests["memory"], key)
		require.Len(t, c.EnvFrom, 2, key)
		require.Equal(t, cm.Metadata.Name, c.EnvFrom[0].ConfigMapRef.Name, key)
		require.Equal(t, secret.Metadata.Name, c.EnvFrom[1].SecretRef.Name, key)
		// The settings and the arguments are ones the binary accepts.
		var stdout, stderr syncBuffer
		err := run(context.Background(), append(slices.Clone(c.Args), "--help"),
			func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
		require.Equal(t, 0, exitCode(err, &stderr), "%s: %v: %s", key, c.Args, stderr.String())
		if o.Kind == "Job" {
			require.Equal(t, "Never", pod.RestartPolicy)
			continue
		}
		require.Equal(t, selector(t, o), o.Spec.Template.Metadata.Labels, key)
		require.Len(t, c.Ports, 1, key)
		require.Equal(t, port, strconv.Itoa(c.Ports[0].ContainerPort), "%s listens on CREDITGATE_LISTEN", key)
		for path, p := range map[string]*httpProbe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
			require.NotNil(t, p, "%s probe %s", key, path)
			require.NotNil(t, p.HTTPGet, "%s probe %s", key, path)
			require.Equal(t, path, p.HTTPGet.Path, key)
			require.Contains(t, []any{c.Ports[0].Name, float64(c.Ports[0].ContainerPort)}, p.HTTPGet.Port, key)
		}
	}

	ingest, worker := get("Deployment/creditgate-ingest"), get("Deployment/creditgate-worker")
	require.GreaterOrEqual(t, *ingest.Spec.Replicas, 2)
	require.Nil(t, worker.Spec.Replicas, "the autoscaler owns the worker count")
	svc := get("Service/creditgate-ingest")
	require.Equal(t, selector(t, ingest), selector(t, svc))
	pdb := get("PodDisruptionBudget/creditgate-ingest")
	require.Equal(t, selector(t, ingest), selector(t, pdb))
	require.NotEqual(t, selector(t, ingest), selector(t, worker))
	require.NotNil(t, pdb.Spec.MinAvailable)

	so := get("ScaledObject/creditgate-worker")
	require.Equal(t, "creditgate-worker", so.Spec.ScaleTargetRef.Name)
	require.Contains(t, []string{"", "Deployment"}, so.Spec.ScaleTargetRef.Kind)
	require.GreaterOrEqual(t, so.Spec.MinReplicaCount, 1, "the reconciler runs in workers")
	require.Len(t, so.Spec.Triggers, 1)
	trig := so.Spec.Triggers[0]
	require.Equal(t, "redis", trig.Type)
	require.Equal(t, pendingList(), trig.Metadata["listName"])
	require.NotEmpty(t, env[trig.Metadata["addressFromEnv"]])
	require.Contains(t, env, trig.Metadata["passwordFromEnv"])
	require.NotContains(t, objs, "HorizontalPodAutoscaler/creditgate-worker", "KEDA makes its own HPA")

	// The README's upgrade applies what the migrate Job needs, alone, by
	// -l 'app.kubernetes.io/component in (config,migrate)'.
	var first []string
	for key, o := range objs {
		if c := o.Metadata.Labels["app.kubernetes.io/component"]; c == "config" || c == "migrate" {
			first = append(first, key)
		}
	}
	slices.Sort(first)
	require.Equal(t, []string{"ConfigMap/creditgate", "Job/creditgate-migrate", "Secret/creditgate"}, first)
}

func TestKustomizationCPUFallback(t *testing.T) {
	t.Parallel()
	objs := buildKustomization(t, "cpu-hpa")
	require.NotContains(t, objs, "ScaledObject/creditgate-worker", "one scaler at a time")
	hpa, ok := objs["HorizontalPodAutoscaler/creditgate-worker"]
	require.True(t, ok)
	require.Equal(t, "Deployment", hpa.Spec.ScaleTargetRef.Kind)
	require.Equal(t, "creditgate-worker", hpa.Spec.ScaleTargetRef.Name)
	require.Len(t, hpa.Spec.Metrics, 1)
	require.Equal(t, "cpu", hpa.Spec.Metrics[0].Resource.Name)
	for _, key := range []string{"Deployment/creditgate-ingest", "Deployment/creditgate-worker", "Job/creditgate-migrate",
		"Service/creditgate-ingest", "PodDisruptionBudget/creditgate-ingest", "ConfigMap/creditgate", "Secret/creditgate"} {
		require.Contains(t, objs, key)
	}
}
