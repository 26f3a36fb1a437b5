package planner

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"

	"github.com/cubegate/cubegate/pgwire"
	"github.com/cubegate/cubegate/pgwire/pgerr"
	"github.com/cubegate/cubegate/postgres"
)

// varDef is a session setting: its canonical name, default, whether a
// change is reported to the client as ParameterStatus, and a check that
// validates and normalizes a new value, as Postgres does.
type varDef struct {
	name   string
	def    func(info pgwire.SessionInfo) string
	report bool
	check  func(string) (string, error)
	desc   string
}

func constant(v string) func(pgwire.SessionInfo) string {
	return func(pgwire.SessionInfo) string { return v }
}

func invalid(name, v string) *pgerr.Error {
	return pgerr.New(pgerrcode.InvalidParameterValue, "invalid value for parameter %q: %q", name, v)
}

func readOnly(name string) func(string) (string, error) {
	return func(string) (string, error) {
		return "", pgerr.New(pgerrcode.CantChangeRuntimeParam, "parameter %q cannot be changed", name)
	}
}

func oneOf(name string, allowed ...string) func(string) (string, error) {
	return func(v string) (string, error) {
		for _, a := range allowed {
			if strings.EqualFold(v, a) {
				return a, nil
			}
		}
		return "", invalid(name, v).WithHint("cubegate supports: %s", strings.Join(allowed, ", "))
	}
}

func boolVar(name string) func(string) (string, error) {
	return func(v string) (string, error) {
		switch strings.ToLower(v) {
		case "on", "true", "yes", "1", "t":
			return "on", nil
		case "off", "false", "no", "0", "f":
			return "off", nil
		}
		return "", pgerr.New(pgerrcode.InvalidParameterValue, "parameter %q requires a Boolean value", name)
	}
}

func intRange(name string, lo, hi int) func(string) (string, error) {
	return func(v string) (string, error) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return "", pgerr.New(pgerrcode.InvalidParameterValue, "invalid value for parameter %q: %q", name, v)
		}
		if n < lo || n > hi {
			return "", pgerr.New(pgerrcode.InvalidParameterValue, "%d is outside the valid range for parameter %q (%d .. %d)", n, name, lo, hi)
		}
		return strconv.Itoa(n), nil
	}
}

// durationVar parses a time setting in milliseconds ("5000", "5s", "1min")
// and spells it as Postgres shows it.
func durationVar(name string) func(string) (string, error) {
	return func(v string) (string, error) {
		ms, err := parseMillis(v)
		if err != nil || ms < 0 || ms > 1<<31-1 {
			return "", invalid(name, v)
		}
		return formatMillis(ms), nil
	}
}

func parseMillis(v string) (int64, error) {
	v = strings.TrimSpace(v)
	i := 0
	for i < len(v) && (v[i] >= '0' && v[i] <= '9' || v[i] == '-') {
		i++
	}
	n, err := strconv.ParseInt(v[:i], 10, 64)
	if err != nil {
		return 0, err
	}
	unit := strings.TrimSpace(v[i:])
	mult := map[string]int64{"": 1, "ms": 1, "s": 1000, "min": 60000, "h": 3600000, "d": 86400000}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("unit %q", unit)
	}
	return n * mult, nil
}

func formatMillis(ms int64) string {
	if ms == 0 {
		return "0"
	}
	for _, u := range []struct {
		n    int64
		name string
	}{{86400000, "d"}, {3600000, "h"}, {60000, "min"}, {1000, "s"}} {
		if ms%u.n == 0 {
			return strconv.FormatInt(ms/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(ms, 10) + "ms"
}

func timeZoneVar(v string) (string, error) {
	switch strings.ToUpper(v) {
	case "UTC", "Z", "ZULU":
		return "UTC", nil
	case "GMT":
		return "GMT", nil
	}
	if _, err := postgres.Location(v); err != nil {
		return "", pgerr.New(pgerrcode.InvalidParameterValue, "invalid value for parameter \"TimeZone\": %q", v).
			WithHint("use a time zone name such as UTC or Europe/Paris")
	}
	return v, nil
}

func dateStyleVar(v string) (string, error) {
	style, order := "ISO", "MDY"
	for _, part := range strings.Split(v, ",") {
		switch p := strings.ToUpper(strings.TrimSpace(part)); p {
		case "ISO", "":
		case "MDY", "DMY", "YMD":
			order = p
		case "US", "NONEURO", "NONEUROPEAN":
			order = "MDY"
		case "EURO", "EUROPEAN":
			order = "DMY"
		case "SQL", "POSTGRES", "GERMAN":
			return "", pgerr.New(pgerrcode.FeatureNotSupported, "DateStyle %s is not supported", p).WithHint("cubegate writes dates in ISO style")
		default:
			return "", invalid("DateStyle", v)
		}
	}
	return style + ", " + order, nil
}

var anything = func(v string) (string, error) { return v, nil }

var varDefs = []varDef{
	{"application_name", func(i pgwire.SessionInfo) string { return i.Params["application_name"] }, true, anything, "Sets the application name to be reported in statistics and logs."},
	{"client_encoding", constant("UTF8"), true, func(v string) (string, error) {
		switch strings.ToUpper(strings.ReplaceAll(v, "-", "")) {
		case "UTF8", "UNICODE":
			return "UTF8", nil
		}
		return "", pgerr.New(pgerrcode.FeatureNotSupported, "client_encoding %q is not supported", v).WithHint("cubegate speaks UTF8 only")
	}, "Sets the client's character set encoding."},
	{"DateStyle", constant("ISO, MDY"), true, dateStyleVar, "Sets the display format for date and time values."},
	{"default_transaction_read_only", constant("off"), true, boolVar("default_transaction_read_only"), "Sets the default read-only status of new transactions."},
	{"in_hot_standby", constant("off"), true, readOnly("in_hot_standby"), "Shows whether hot standby is currently active."},
	{"integer_datetimes", constant("on"), true, readOnly("integer_datetimes"), "Shows whether datetimes are integer based."},
	{"IntervalStyle", constant("postgres"), true, oneOf("IntervalStyle", "postgres"), "Sets the display format for interval values."},
	{"is_superuser", constant("off"), true, readOnly("is_superuser"), "Shows whether the current user is a superuser."},
	{"server_encoding", constant("UTF8"), true, readOnly("server_encoding"), "Shows the server (database) character set encoding."},
	{"server_version", constant(ServerVersion), true, readOnly("server_version"), "Shows the server version."},
	{"session_authorization", func(i pgwire.SessionInfo) string { return i.User }, true, readOnly("session_authorization"), "Sets the session user name."},
	{"standard_conforming_strings", constant("on"), true, oneOf("standard_conforming_strings", "on"), "Causes '...' strings to treat backslashes literally."},
	{"TimeZone", constant("UTC"), true, timeZoneVar, "Sets the time zone for displaying and interpreting time stamps."},

	{"server_version_num", constant(ServerVersionNum), false, readOnly("server_version_num"), "Shows the server version as an integer."},
	{"search_path", constant(`"$user", public`), false, anything, "Sets the schema search order for names that are not schema-qualified."},
	{"extra_float_digits", constant("1"), false, intRange("extra_float_digits", -15, 3), "Sets the number of digits displayed for floating-point values."},
	{"statement_timeout", constant("0"), false, durationVar("statement_timeout"), "Sets the maximum allowed duration of any statement."},
	{"idle_in_transaction_session_timeout", constant("0"), false, durationVar("idle_in_transaction_session_timeout"), "Sets the maximum allowed idle time between queries, when in a transaction."},
	{"lock_timeout", constant("0"), false, durationVar("lock_timeout"), "Sets the maximum allowed duration of any wait for a lock."},
	{"idle_session_timeout", constant("0"), false, durationVar("idle_session_timeout"), "Sets the maximum allowed idle time between queries, when not in a transaction."},
	{"transaction_isolation", constant("read committed"), false, oneOf("transaction_isolation", "read uncommitted", "read committed", "repeatable read", "serializable"), "Sets the current transaction's isolation level."},
	{"default_transaction_isolation", constant("read committed"), false, oneOf("default_transaction_isolation", "read uncommitted", "read committed", "repeatable read", "serializable"), "Sets the transaction isolation level of each new transaction."},
	{"transaction_read_only", constant("off"), false, boolVar("transaction_read_only"), "Sets the current transaction's read-only status."},
	{"client_min_messages", constant("notice"), false, oneOf("client_min_messages", "debug5", "debug4", "debug3", "debug2", "debug1", "log", "notice", "warning", "error"), "Sets the message levels that are sent to the client."},
	{"bytea_output", constant("hex"), false, oneOf("bytea_output", "hex"), "Sets the output format for bytea."},
	{"max_identifier_length", constant("63"), false, readOnly("max_identifier_length"), "Shows the maximum identifier length."},
	{"max_index_keys", constant("32"), false, readOnly("max_index_keys"), "Shows the maximum number of index keys."},
	{"lc_messages", constant("C.UTF-8"), false, anything, "Sets the language in which messages are displayed."},
	{"lc_monetary", constant("C.UTF-8"), false, anything, "Sets the locale for formatting monetary amounts."},
	{"lc_numeric", constant("C.UTF-8"), false, anything, "Sets the locale for formatting numbers."},
	{"lc_time", constant("C.UTF-8"), false, anything, "Sets the locale for formatting date and time values."},
	{"timezone_abbreviations", constant("Default"), false, anything, "Selects a file of time zone abbreviations."},
	{"escape_string_warning", constant("on"), false, boolVar("escape_string_warning"), "Warn about backslash escapes in ordinary string literals."},
	{"array_nulls", constant("on"), false, boolVar("array_nulls"), "Enable input of NULL elements in arrays."},
	{"row_security", constant("on"), false, boolVar("row_security"), "Enable row security."},
	{"synchronous_commit", constant("on"), false, anything, "Sets the current transaction's synchronization level."},
	{"work_mem", constant("4MB"), false, anything, "Sets the maximum memory to be used for query workspaces."},
	{"jit", constant("off"), false, boolVar("jit"), "Allow JIT compilation."},
	{"geqo", constant("on"), false, boolVar("geqo"), "Enables genetic query optimization."},
	{"join_collapse_limit", constant("8"), false, intRange("join_collapse_limit", 1, 1<<31-1), "Sets the FROM-list size beyond which JOIN constructs are not flattened."},
	{"max_parallel_workers_per_gather", constant("2"), false, intRange("max_parallel_workers_per_gather", 0, 1024), "Sets the maximum number of parallel processes per executor node."},
	{"default_text_search_config", constant("pg_catalog.english"), false, anything, "Sets default text search configuration."},
	{"plan_cache_mode", constant("auto"), false, oneOf("plan_cache_mode", "auto", "force_generic_plan", "force_custom_plan"), "Controls the planner's selection of custom or generic plan."},
	{"role", constant("none"), false, anything, "Sets the current role."},
}

var varByName = func() map[string]*varDef {
	m := make(map[string]*varDef, len(varDefs))
	for i := range varDefs {
		m[strings.ToLower(varDefs[i].name)] = &varDefs[i]
	}
	return m
}()

// vars are a session's settings.
type vars struct {
	info pgwire.SessionInfo
	// defaults are the server's configured defaults (statement_timeout …)
	// over the built-in ones.
	defaults map[string]string
	m        map[string]string // lower-cased name → value
	local    map[string]string // values to restore when the transaction ends (SET LOCAL)
	told     map[string]string // reported settings' values the client was last told
}

func newVars(info pgwire.SessionInfo, defaults map[string]string) *vars {
	v := &vars{info: info, defaults: defaults, m: map[string]string{}, local: map[string]string{}, told: map[string]string{}}
	for _, d := range varDefs {
		v.m[strings.ToLower(d.name)] = v.defaultOf(&d)
	}
	// Startup options (-c name=value, PGOPTIONS, or a parameter) apply
	// like SET, where valid.
	for k, val := range info.Params {
		if d, ok := varByName[strings.ToLower(k)]; ok && d.report && k != "application_name" {
			if norm, err := d.check(val); err == nil {
				v.m[strings.ToLower(k)] = norm
			}
		}
	}
	return v
}

func (v *vars) defaultOf(d *varDef) string {
	if val, ok := v.defaults[strings.ToLower(d.name)]; ok {
		return val
	}
	return d.def(v.info)
}

func (v *vars) reported() [][2]string {
	var out [][2]string
	for _, d := range varDefs {
		if d.report {
			val := v.m[strings.ToLower(d.name)]
			v.told[strings.ToLower(d.name)] = val
			out = append(out, [2]string{d.name, val})
		}
	}
	return out
}

// lookup returns a setting's definition; dotted names (custom settings,
// "myapp.x") are allowed as in Postgres.
func lookupVar(name string) (*varDef, bool) {
	d, ok := varByName[strings.ToLower(name)]
	if ok {
		return d, true
	}
	if strings.Contains(name, ".") {
		return &varDef{name: name, def: constant(""), check: anything}, true
	}
	return nil, false
}

// set assigns a setting; local values are restored at transaction end.
func (v *vars) set(name, value string, local bool) error {
	d, ok := lookupVar(name)
	if !ok {
		return pgerr.New(pgerrcode.UndefinedObject, "unrecognized configuration parameter %q", name)
	}
	norm, err := d.check(value)
	if err != nil {
		return err
	}
	key := strings.ToLower(name)
	if local {
		if _, saved := v.local[key]; !saved {
			v.local[key] = v.m[key]
		}
	}
	v.assign(key, norm)
	return nil
}

func (v *vars) assign(key, value string) {
	v.m[key] = value
}

// reset restores a setting's default.
func (v *vars) reset(name string) error {
	d, ok := lookupVar(name)
	if !ok {
		return pgerr.New(pgerrcode.UndefinedObject, "unrecognized configuration parameter %q", name)
	}
	if _, err := d.check(v.defaultOf(d)); err != nil && varByName[strings.ToLower(name)] != nil {
		return err // a read-only setting
	}
	v.assign(strings.ToLower(name), v.defaultOf(d))
	return nil
}

func (v *vars) resetAll() {
	for i := range varDefs {
		d := &varDefs[i]
		if _, err := d.check(v.defaultOf(d)); err == nil {
			v.assign(strings.ToLower(d.name), v.defaultOf(d))
		}
	}
}

// endTransaction undoes SET LOCAL.
func (v *vars) endTransaction() {
	for k, old := range v.local {
		v.assign(k, old)
	}
	clear(v.local)
}

// takeChanges returns the reported settings whose value differs from
// the one the client was last told, and records them as told.
func (v *vars) takeChanges() [][2]string {
	var out [][2]string
	for _, d := range varDefs {
		if !d.report {
			continue
		}
		key := strings.ToLower(d.name)
		if v.m[key] != v.told[key] {
			v.told[key] = v.m[key]
			out = append(out, [2]string{d.name, v.m[key]})
		}
	}
	return out
}

// show returns a setting's value.
func (v *vars) show(name string) (string, string, error) {
	d, ok := lookupVar(name)
	if !ok {
		return "", "", pgerr.New(pgerrcode.UndefinedObject, "unrecognized configuration parameter %q", name)
	}
	val, set := v.m[strings.ToLower(name)]
	if !set && varByName[strings.ToLower(name)] == nil {
		return "", "", pgerr.New(pgerrcode.UndefinedObject, "unrecognized configuration parameter %q", name)
	}
	return d.name, val, nil
}

func (v *vars) all() [][]any {
	names := make([]string, 0, len(varDefs))
	for _, d := range varDefs {
		names = append(names, d.name)
	}
	sort.Slice(names, func(i, j int) bool { return strings.ToLower(names[i]) < strings.ToLower(names[j]) })
	rows := make([][]any, 0, len(names))
	for _, n := range names {
		rows = append(rows, []any{n, v.m[strings.ToLower(n)], varByName[strings.ToLower(n)].desc})
	}
	return rows
}

// millis reads a time setting in milliseconds.
func (v *vars) millis(name string) time.Duration {
	ms, _ := parseMillis(v.m[name])
	return time.Duration(ms) * time.Millisecond
}
