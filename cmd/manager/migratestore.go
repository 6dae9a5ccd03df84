package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mcpproxy/mcpproxy-operator/internal/app"
	"github.com/mcpproxy/mcpproxy-operator/internal/secretstore"
	"github.com/mcpproxy/mcpproxy-operator/internal/tokenstore"
)

// migrateStoreCommand is the subcommand that copies a token store to another backend.
const migrateStoreCommand = "migrate-store"

// migrateOptions are migrate-store's flags.
type migrateOptions struct {
	from, to    string // bolt:PATH or secrets:NAMESPACE
	keyFile     string
	kubeconfig  string
	openTimeout time.Duration
}

// storeSpec is one side of a migration.
type storeSpec struct{ backend, where string }

func (s storeSpec) String() string { return s.backend + ":" + s.where }

func parseStoreSpec(v string) (storeSpec, error) {
	backend, where, ok := strings.Cut(v, ":")
	if !ok || where == "" || backend != app.StoreBackendBolt && backend != app.StoreBackendSecrets {
		return storeSpec{}, fmt.Errorf("%q is not bolt:PATH or secrets:NAMESPACE", v)
	}
	return storeSpec{backend, where}, nil
}

// migrateStoreMain parses migrate-store's flags and runs it; it returns the exit code.
func migrateStoreMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("manager "+migrateStoreCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o migrateOptions
	fs.StringVar(&o.from, "from", "", "The store to copy: bolt:PATH (a bbolt file) or secrets:NAMESPACE (the token Secrets of a namespace).")
	fs.StringVar(&o.to, "to", "", "The store to copy into, bolt:PATH or secrets:NAMESPACE; a bbolt file is created if missing.")
	fs.StringVar(&o.keyFile, "token-encryption-key-file", "", "The key file both stores are sealed with (default: the bbolt file's path + \".key\").")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Kubeconfig for a secrets store (default: $KUBECONFIG, ~/.kube/config, or the pod's ServiceAccount).")
	fs.DurationVar(&o.openTimeout, "token-store-open-timeout", 5*time.Second, "How long to wait for a bbolt file's lock (the manager must be stopped).")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: manager %s --from bolt:PATH --to secrets:NAMESPACE [flags]\n"+
			"       manager %s --from secrets:NAMESPACE --to bolt:PATH [flags]\n\n"+
			"Copies every token record, sealed bytes as they are (both backends seal with the same key\n"+
			"file), and checks that the destination then holds each at its revision or a newer one.\n"+
			"It never overwrites a newer revision, and running it again copies nothing twice.\n"+
			"Stop the manager first (scale it to zero), then start it on the new backend.\n"+
			"Exits 1 when a record was refused (the destination's is newer) or could not be read.\n\n",
			migrateStoreCommand, migrateStoreCommand)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	report, err := migrateStore(o, func() (*rest.Config, error) { return kubeConfig(o.kubeconfig) }, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "migrate-store:", err)
		return 1
	}
	fmt.Fprintln(stdout, report)
	if !report.complete() {
		fmt.Fprintln(stderr, "migrate-store: not every record was copied (see above)")
		return 1
	}
	return 0
}

// kubeConfig loads a kubeconfig the way kubectl does (explicit path, $KUBECONFIG,
// ~/.kube/config), and the pod's ServiceAccount when there is none.
func kubeConfig(path string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
}

// migrateReport counts what a migration did.
type migrateReport struct {
	from, to   storeSpec
	outcomes   map[tokenstore.PutOutcome]int
	unreadable int // records of the source that cannot be parsed (not copied)
	unopenable int // copied, but no key of the key file opens them (in either store)
}

func (r migrateReport) complete() bool {
	return r.unreadable == 0 && r.outcomes[tokenstore.PutKeptNewer] == 0
}

// String is the one-line summary.
func (r migrateReport) String() string {
	total := r.unreadable
	for _, n := range r.outcomes {
		total += n
	}
	s := fmt.Sprintf("Copied %s to %s: %d records: %d created, %d replaced an older revision, %d unchanged, %d kept (newer at the destination), %d unreadable",
		r.from, r.to, total, r.outcomes[tokenstore.PutCreated], r.outcomes[tokenstore.PutReplaced],
		r.outcomes[tokenstore.PutUnchanged], r.outcomes[tokenstore.PutKeptNewer], r.unreadable)
	if r.unopenable > 0 {
		s += fmt.Sprintf("; %d copied as they are although the key file does not open them", r.unopenable)
	}
	return s + "."
}

// migrateStore copies o.from into o.to and verifies the result. Problems with single records
// are listed on out and counted in the report; an error means the copy could not be made or
// verified.
func migrateStore(o migrateOptions, config func() (*rest.Config, error), out io.Writer) (migrateReport, error) {
	var r migrateReport
	var err error
	if r.from, err = parseStoreSpec(o.from); err != nil {
		return r, fmt.Errorf("--from: %w", err)
	}
	if r.to, err = parseStoreSpec(o.to); err != nil {
		return r, fmt.Errorf("--to: %w", err)
	}
	if r.from == r.to {
		return r, errors.New("--from and --to name the same store")
	}
	keyFile := o.keyFile
	for _, s := range []storeSpec{r.from, r.to} {
		if keyFile == "" && s.backend == app.StoreBackendBolt {
			keyFile = s.where + ".key"
		}
	}
	keys, err := tokenstore.LoadKeyring(keyFile, logr.Discard())
	if err != nil {
		return r, err
	}
	src, err := openMigrationStore(r.from, keyFile, keys, o.openTimeout, config, false)
	if err != nil {
		return r, fmt.Errorf("opening %s: %w", r.from, err)
	}
	defer src.Close()
	dst, err := openMigrationStore(r.to, keyFile, keys, o.openTimeout, config, true)
	if err != nil {
		return r, fmt.Errorf("opening %s: %w", r.to, err)
	}
	defer dst.Close()

	recs, err := src.ExportSealed()
	for _, e := range unjoin(err) {
		if !errors.Is(e, tokenstore.ErrCorruptRecord) {
			return r, fmt.Errorf("reading %s: %w", r.from, err)
		}
		fmt.Fprintf(out, "Not copied (unreadable in %s): %v\n", r.from, e)
		r.unreadable++
	}
	r.outcomes = map[tokenstore.PutOutcome]int{}
	for _, rec := range recs {
		if _, err := keys.Open(rec.Key, rec.Value); err != nil {
			fmt.Fprintf(out, "Copying as it is (the key file does not open it): %v\n", err)
			r.unopenable++
		}
		outcome, err := dst.PutSealed(rec)
		if err != nil {
			return r, fmt.Errorf("copying %s: %w", rec, err)
		}
		if outcome == tokenstore.PutKeptNewer {
			fmt.Fprintf(out, "Kept %s's newer record of %s (not overwritten with revision %d)\n", r.to, rec.Key, rec.Revision)
		}
		r.outcomes[outcome]++
	}
	return r, verifyMigration(recs, dst, r.to)
}

// openMigrationStore opens one side; a destination bbolt file is created if missing.
func openMigrationStore(s storeSpec, keyFile string, keys *tokenstore.Keyring, openTimeout time.Duration,
	config func() (*rest.Config, error), create bool,
) (tokenstore.Backend, error) {
	if s.backend == app.StoreBackendBolt {
		if _, err := os.Stat(s.where); err != nil && !create {
			return nil, fmt.Errorf("no token store to copy: %w", err)
		}
		st, err := tokenstore.Open(s.where, tokenstore.Options{KeyFile: keyFile, OpenTimeout: openTimeout})
		if errors.Is(err, tokenstore.ErrLocked) {
			return nil, fmt.Errorf("%w: stop the manager first", err)
		}
		return st, err
	}
	cfg, err := config()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	return secretstore.NewForConfig(cfg, secretstore.Options{Namespace: s.where, Keys: keys})
}

// verifyMigration reads the destination back: every copied record must be there at its
// revision or a newer one.
func verifyMigration(copied []tokenstore.Sealed, dst tokenstore.Backend, to storeSpec) error {
	held, err := dst.ExportSealed()
	if err != nil && len(held) == 0 {
		return fmt.Errorf("verifying %s: %w", to, err)
	}
	revs := make(map[tokenstore.Key]uint64, len(held))
	for _, h := range held {
		revs[h.Key] = h.Revision
	}
	var missing []string
	for _, c := range copied {
		if revs[c.Key] < c.Revision {
			missing = append(missing, c.Key.String())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("verifying %s: %d records are missing or older than their copy: %s", to, len(missing), strings.Join(missing, ", "))
	}
	return nil
}

// unjoin lists the errors of an errors.Join (or err itself).
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
