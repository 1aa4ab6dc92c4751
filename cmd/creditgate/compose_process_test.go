package main

// docker-compose.yml and .env.example, loaded as docker compose loads them;
// then what compose would run, run by hand: the compose file's commands and
// environment, as OS processes of the real binary, against a Redis started
// with deploy/redis.conf, PostgreSQL (SQLite without TEST_DATABASE_URL) and a
// fake Cal.com standing in for the network names compose gives them.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	composecli "github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
	"github.com/creditgate/creditgate/worker/workertest"
)

// envFile reads a KEY=value file with # comments (.env.example) in order, and checks each key has a comment of its own above it, or
// shares one with the keys right above it.
func envFile(t testing.TB, path string) (keys []string, vals map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	vals = map[string]string{}
	sc := bufio.NewScanner(f)
	documented := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			documented = false
		case strings.HasPrefix(line, "#"):
			documented = true
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok, "%s: %q is not KEY=value", path, line)
			require.True(t, documented, "%s: %s has no comment saying what it is", path, k)
			keys = append(keys, k)
			vals[k] = v
		}
	}
	require.NoError(t, sc.Err())
	return keys, vals
}

// isSetting tells whether creditgate reads the environment variable name.
func isSetting(name string) bool {
	return slices.ContainsFunc(settings, func(s setting) bool { return s.env == name })
}

// loadCompose loads docker-compose.yml as `docker compose` does, from a
// copy beside an .env made from .env.example with set's values (a nil value
// leaves the key out).
func loadCompose(t testing.TB, set map[string]*string) *types.Project {
	t.Helper()
	p, err := tryLoadCompose(t, set)
	require.NoError(t, err, "load docker-compose.yml")
	return p
}

// tryLoadCompose is loadCompose returning the loader's error.
func tryLoadCompose(t testing.TB, set map[string]*string) (*types.Project, error) {
	t.Helper()
	dir := t.TempDir()
	copyFiles(t, dir, "docker-compose.yml", "deploy/redis.conf", "deploy/Dockerfile")
	keys, vals := envFile(t, filepath.Join(repoRoot(t), ".env.example"))
	var env strings.Builder
	for _, k := range keys {
		v := vals[k]
		if p, ok := set[k]; ok {
			if p == nil {
				continue
			}
			v = *p
		}
		env.WriteString(k + "=" + v + "\n")
	}
	for k := range set {
		require.Contains(t, keys, k, ".env.example should document %s", k)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".env"), []byte(env.String()), 0o600))
	opts, err := composecli.NewProjectOptions([]string{filepath.Join(dir, "docker-compose.yml")},
		composecli.WithWorkingDirectory(dir), composecli.WithEnvFiles(), composecli.WithDotEnv)
	require.NoError(t, err)
	return opts.LoadProject(context.Background())
}

func ptr(s string) *string { return &s }

// composeSecrets are the .env values the compose tests use.
func composeSecrets() map[string]*string {
	return map[string]*string{
		"POSTGRES_PASSWORD":     ptr("pg-test-password"),
		"CALCOM_WEBHOOK_SECRET": ptr(testSecret),
		"CALCOM_API_KEY":        ptr(testAPIKey),
	}
}

func TestEnvExampleDocumentsSettings(t *testing.T) {
	t.Parallel()
	keys, _ := envFile(t, filepath.Join(repoRoot(t), ".env.example"))
	for _, k := range keys {
		require.True(t, k == "POSTGRES_PASSWORD" || isSetting(k), ".env.example: %s is not a creditgate setting", k)
	}
	for _, k := range []string{"POSTGRES_PASSWORD", "CALCOM_WEBHOOK_SECRET", "CALCOM_API_KEY", "CREDITGATE_ADMIN_TOKEN"} {
		require.Contains(t, keys, k)
	}
}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	p := loadCompose(t, composeSecrets())
	require.Equal(t, "creditgate", p.Name)
	svc := func(name string) types.ServiceConfig {
		s, ok := p.Services[name]
		require.True(t, ok, "service %s", name)
		return s
	}
	mount := func(s types.ServiceConfig, target string) types.ServiceVolumeConfig {
		for _, v := range s.Volumes {
			if v.Target == target {
				return v
			}
		}
		t.Fatalf("%s mounts nothing on %s", s.Name, target)
		return types.ServiceVolumeConfig{}
	}

	// Redis: deploy/redis.conf, data on a named volume where the conf says.
	redis := svc("redis")
	require.Equal(t, types.ShellCommand{"redis-server", "/usr/local/etc/redis/redis.conf"}, redis.Command)
	conf := mount(redis, "/usr/local/etc/redis/redis.conf")
	require.Equal(t, filepath.Join(filepath.Dir(p.ComposeFiles[0]), "deploy", "redis.conf"), conf.Source)
	require.True(t, conf.ReadOnly)
	redisConf := readRedisConf(t)
	require.Equal(t, "yes", redisConf["appendonly"])
	require.Equal(t, "everysec", redisConf["appendfsync"])
	require.Equal(t, "noeviction", redisConf["maxmemory-policy"])
	data := mount(redis, redisConf["dir"])
	require.Equal(t, types.VolumeTypeVolume, data.Type)
	require.Contains(t, p.Volumes, data.Source)

	pg := svc("postgres")
	pgData := mount(pg, "/var/lib/postgresql/data")
	require.Equal(t, types.VolumeTypeVolume, pgData.Type)
	require.Contains(t, p.Volumes, pgData.Source)
	require.Equal(t, "pg-test-password", *pg.Environment["POSTGRES_PASSWORD"])

	for _, name := range []string{"redis", "postgres", "ingest", "worker"} {
		hc := svc(name).HealthCheck
		require.NotNil(t, hc, "%s has a health check", name)
		require.NotEmpty(t, hc.Test, "%s health check", name)
	}

	// creditgate: one image from deploy/Dockerfile; secrets from .env.
	for _, name := range []string{"migrate", "ingest", "worker"} {
		s := svc(name)
		require.NotNil(t, s.Build, name)
		require.Equal(t, "deploy/Dockerfile", s.Build.Dockerfile, name)
		require.Equal(t, filepath.Dir(p.ComposeFiles[0]), s.Build.Context, name)
		require.Equal(t, "creditgate:latest", s.Image, name)
		require.Equal(t, testSecret, *s.Environment["CALCOM_WEBHOOK_SECRET"], name)
		require.Equal(t, testAPIKey, *s.Environment["CALCOM_API_KEY"], name)
		require.Equal(t, "postgres://creditgate:pg-test-password@postgres:5432/creditgate?sslmode=disable",
			*s.Environment["DATABASE_URL"], name)
		require.Equal(t, "redis://redis:6379/0", *s.Environment["REDIS_URL"], name)
	}
	migrate := svc("migrate")
	require.Equal(t, types.ShellCommand{"migrate"}, migrate.Command)
	require.Equal(t, "no", migrate.Restart, "migrate runs once")
	require.Equal(t, types.ServiceConditionHealthy, migrate.DependsOn["postgres"].Condition)
	require.Nil(t, migrate.HealthCheck)

	ingest := svc("ingest")
	require.Equal(t, types.ShellCommand{"ingest"}, ingest.Command)
	require.Len(t, ingest.Ports, 1)
	require.Equal(t, "8080", ingest.Ports[0].Published)
	require.EqualValues(t, 8080, ingest.Ports[0].Target)
	require.Equal(t, ":8080", *ingest.Environment["CREDITGATE_LISTEN"])

	wk := svc("worker")
	require.Equal(t, types.ShellCommand{"worker"}, wk.Command)
	require.Equal(t, 2, wk.GetScale())
	require.Empty(t, wk.Ports, "two replicas cannot publish one port")
	require.NotNil(t, wk.StopGracePeriod)
	shutdown, err := bindConfig(flag.NewFlagSet("defaults", flag.ContinueOnError), func(string) string { return "" })
	require.NoError(t, err)
	require.Greater(t, int64(*wk.StopGracePeriod), int64(shutdown.ShutdownTimeout),
		"docker must wait longer than the worker's shutdown timeout")

	for _, name := range []string{"ingest", "worker"} {
		s := svc(name)
		require.Equal(t, types.ServiceConditionCompletedSuccessfully, s.DependsOn["migrate"].Condition, name)
		require.Equal(t, types.ServiceConditionHealthy, s.DependsOn["redis"].Condition, name)
		require.Equal(t, "unless-stopped", s.Restart, name)
		// The image has no shell or curl: the binary probes itself.
		test := s.HealthCheck.Test
		require.Equal(t, []string{"CMD", "/creditgate", "healthcheck", "--url"}, []string(test[:4]), name)
		require.True(t, strings.HasSuffix(test[4], ":8080/readyz"), "%s probes %s", name, test[4])
	}
	require.Equal(t, types.ServiceConditionHealthy, wk.DependsOn["postgres"].Condition)
}

func TestComposeRequiresSecrets(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"POSTGRES_PASSWORD", "CALCOM_WEBHOOK_SECRET"} {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			set := composeSecrets()
			set[key] = nil
			_, err := tryLoadCompose(t, set)
			require.ErrorContains(t, err, "set "+key+" in .env")
		})
	}
}

// readRedisConf reads deploy/redis.conf's directives (the last of each).
func readRedisConf(t testing.TB) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "redis.conf"))
	require.NoError(t, err)
	conf := map[string]string{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		conf[k] = strings.TrimSpace(v)
	}
	return conf
}

// startService runs a long-lived compose service's process, and stops it
// as docker compose down does when the test ends: SIGTERM, then exit 0.
func startService(t *testing.T, name, bin string, args, env []string) *proc {
	t.Helper()
	p := startProc(t, name, nil, env, bin, args...)
	t.Cleanup(func() {
		p.signal(t, syscall.SIGTERM, 15*time.Second)
		if p.err != nil {
			t.Errorf("%s after SIGTERM: %v, want exit 0", name, p.err)
		}
	})
	return p
}

// localAddr is a 127.0.0.1 address with a free port.
func localAddr(t *testing.T) string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }

// runOnce runs bin to completion and returns its exit code and output.
func runOnce(t *testing.T, bin string, args, env []string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	require.NoError(t, err, "%s %v", bin, args)
	return 0, string(out)
}

// privateRedis starts a redis-server with deploy/redis.conf (on a free
// port, in a temporary directory, without snapshots), or, without
// redis-server on this machine, falls back to the suite's Redis.
func privateRedis(t *testing.T) string {
	t.Helper()
	server, err := exec.LookPath("redis-server")
	if err != nil {
		t.Logf("no redis-server: using the test Redis, not deploy/redis.conf")
		return workertest.RedisURL(t)
	}
	// Redis checks the conf's dir (the compose volume, /data) as it reads
	// it, so the copy it reads names a directory of this test's instead.
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "redis.conf"))
	require.NoError(t, err)
	conf := regexp.MustCompile(`(?m)^dir .*$`).ReplaceAllString(string(b), "dir "+dir)
	require.NotEqual(t, string(b), conf, "redis.conf sets dir")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "redis.conf"), []byte(conf), 0o644))
	addr := localAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	redisProc := startService(t, "redis-server", server, []string{filepath.Join(dir, "redis.conf"),
		"--port", port, "--bind", "127.0.0.1", "--save", ""}, nil)
	url := "redis://" + addr + "/0"
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opt)
	defer c.Close()
	waitFor(t, 10*time.Second, func() bool {
		if redisProc.exited() {
			t.Fatalf("redis-server exited: %v", redisProc.err)
		}
		return c.Ping(context.Background()).Err() == nil
	}, "redis-server")
	for k, want := range readRedisConf(t) {
		if k == "appendonly" || k == "appendfsync" || k == "maxmemory-policy" {
			require.Equal(t, want, c.ConfigGet(context.Background(), k).Val()[k], "%s from redis.conf", k)
		}
	}
	return url
}

// serviceEnv is a compose service's environment with the addresses compose
// resolves by service name replaced by this machine's. Every other
// creditgate setting is set empty (meaning unset), so that nothing from the
// test's own environment leaks in.
func serviceEnv(s types.ServiceConfig, local map[string]string) []string {
	env := map[string]string{}
	for _, st := range settings {
		env[st.env] = ""
	}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	for k, v := range local {
		env[k] = v
	}
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// waitHealthy runs a service's compose health check, pointed at listen,
// until it passes.
func waitHealthy(t *testing.T, bin string, s types.ServiceConfig, listen string, p *proc) {
	t.Helper()
	test := s.HealthCheck.Test
	require.Equal(t, "CMD", test[0], s.Name)
	args := make([]string, 0, len(test)-2)
	for _, a := range test[2:] {
		args = append(args, strings.Replace(a, "127.0.0.1:8080", listen, 1))
	}
	waitFor(t, 15*time.Second, func() bool {
		if p.exited() {
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, tail(p.stderr.String()))
		}
		code, _ := runOnce(t, bin, args, []string{})
		return code == 0
	}, p.name+" healthy")
}

func TestComposeServicesAsProcesses(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	project := loadCompose(t, composeSecrets())
	bin := buildBinary(t)
	redisURL := privateRedis(t)
	db := sharedLedgerURL(t)
	fake := calapitest.NewServer(testAPIKey)
	t.Cleanup(fake.Close)
	local := func(listen string) map[string]string {
		return map[string]string{"REDIS_URL": redisURL, "DATABASE_URL": db, "CREDITGATE_LISTEN": listen,
			"CALCOM_API_URL": fake.URL}
	}
	svc := func(name string) types.ServiceConfig {
		s, ok := project.Services[name]
		require.True(t, ok, name)
		return s
	}

	// migrate runs first and exits 0.
	code, out := runOnce(t, bin, svc("migrate").Command, serviceEnv(svc("migrate"), local("")))
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "schema at version")

	ingestAddr := localAddr(t)
	ingest := startService(t, "ingest", bin, svc("ingest").Command, serviceEnv(svc("ingest"), local(ingestAddr)))
	waitHealthy(t, bin, svc("ingest"), ingestAddr, ingest)

	// The operator grants credit with the worker's image and environment
	// (docker compose run --rm worker credits grant ...).
	workerEnv := func(listen string) []string { return serviceEnv(svc("worker"), local(listen)) }
	code, out = runOnce(t, bin, []string{"credits", "grant", "ada@example.com", "3"}, workerEnv(""))
	require.Equal(t, 0, code, out)

	bk := calapi.Booking{UID: "compose-booking-1", ID: 4242, Status: calapi.StatusPending, EventTypeID: 7,
		AttendeeEmail: "ada@example.com", Start: time.Now().Add(72 * time.Hour).UTC().Truncate(time.Minute)}
	bk.End = bk.Start.Add(time.Hour)
	fake.AddBooking(bk)
	body := calapitest.WebhookBody("BOOKING_REQUESTED", bk, nil)
	secret := *svc("ingest").Environment["CALCOM_WEBHOOK_SECRET"]
	for range 2 { // Cal.com's re-delivery is queued once
		resp, err := calapitest.PostWebhook(context.Background(), http.DefaultClient,
			"http://"+ingestAddr+"/webhooks/calcom", secret, body)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, 2, resp.StatusCode/100, resp.Status)
	}
	// Queued where KEDA's scaler looks (deploy/k8s/scaledobject.yaml).
	opt, err := redis.ParseURL(redisURL)
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	require.Equal(t, int64(1), rdb.LLen(context.Background(), pendingList()).Val(), pendingList())

	// The workers, as many as compose's replicas, decide it.
	workerSvc := svc("worker")
	replicas := workerSvc.GetScale()
	require.Equal(t, 2, replicas)
	for i := range replicas {
		addr := localAddr(t)
		w := startService(t, fmt.Sprintf("worker-%d", i+1), bin, svc("worker").Command, workerEnv(addr))
		waitHealthy(t, bin, svc("worker"), addr, w)
	}
	waitFor(t, 15*time.Second, func() bool {
		b, _ := fake.Booking(bk.UID)
		return b.Status == calapi.StatusAccepted
	}, "the booking accepted at Cal.com")
	require.Len(t, fake.CallsTo(http.MethodPost, "/confirm"), 1)

	code, out = runOnce(t, bin, []string{"credits", "balance", "ada@example.com", "--json"}, workerEnv(""))
	require.Equal(t, 0, code, out)
	require.JSONEq(t, `{"email":"ada@example.com","balance":2}`, out)
	code, out = runOnce(t, bin, []string{"credits", "history", "ada@example.com", "--json"}, workerEnv(""))
	require.Equal(t, 0, code, out)
	var hist []historyEntry
	require.NoError(t, json.Unmarshal([]byte(out), &hist))
	debits := 0
	for _, e := range hist {
		if e.Kind == "debit" {
			debits++
			require.Equal(t, bk.UID, e.BookingUID)
		}
	}
	require.Equal(t, 1, debits, "debited once")
	t.Logf("whole run %s", time.Since(begin).Round(time.Millisecond))
}
