// Package jsmodel evaluates Cube's JavaScript data model files in an
// embedded, sandboxed JavaScript engine (goja) and turns what they define
// into YAML-shaped documents, the shape of Cube's YAML model files, so
// that package cubes reads a .js model through the same loader,
// validation and compiler as a .yml one.
//
// # What a model file sees
//
// Each .js file runs as a CommonJS module: module, exports, require,
// __filename and __dirname, plus the model globals cube(name, def),
// view(name, def), asyncModule(fn), CUBE and TABLE, SECURITY_CONTEXT
// (also USER_CONTEXT), FILTER_PARAMS, FILTER_GROUP, SQL_UTILS and
// COMPILE_CONTEXT (a frozen copy of the load's compile context).
//
// # References
//
// Cube lets a model name cubes and members as bare identifiers:
// `${CUBE}.status`, `${customers}.id`, `${count}`, drillMembers: [id],
// measures: [CUBE.count], joinPath: orders.customers. Cube rewrites the
// source to make them function parameters; here the module's body runs
// inside `with (scope) { … }` (sloppy mode, on the wrapper's first line
// so that line numbers stay exact), where scope is a Proxy that answers
// every identifier the module does not declare and that is not a global
// with a reference object. A reference's text (what a template string
// makes of it) is the YAML model's syntax, `{name}`; its properties are
// nested references (`{orders.count}`). Where the model expects a member
// name rather than SQL (drill_members, a pre-aggregation's members,
// includes, join_path, extends …) a reference is written as the plain
// name (`count`, `orders.customers`), CUBE. dropped before a member name.
// The scope answers only names the module does not declare: the parser
// lists the module's top-level var declarations (the only declarations
// that live outside the with block), and let, const, class and function
// declarations live inside it, so they are found before the scope.
// Assigning to an undeclared name is an error (sloppy mode would
// otherwise make it a global shared by every file).
//
// Only ${…} interpolates, as in Cube: braces a model writes in its SQL
// (sql:, sql_table:, '{status}', a JSON path '{a,b}') are text. So the
// braces of a reference's or a context variable's text travel through
// JavaScript strings as private-use markers, the converter turns them
// into braces, and in SQL escapes the model's own braces as the
// renderer's literal braces (U+E07B, U+E07D: cubes/render.go turns them
// back into braces after rendering; a YAML model never holds them, and
// its {x} stays a reference). Elsewhere (titles, descriptions, meta)
// every brace is a brace.
//
// Context variables become the text the renderer reads:
// SECURITY_CONTEXT.a.b.filter('col') → {SECURITY_CONTEXT.a.b.filter('col')},
// FILTER_PARAMS.c.m.filter((from, to) => `…${from}…`) →
// {FILTER_PARAMS.c.m.filter(lambda from, to: f'…{from}…')} and so on.
// A filter callback's text is written into the SQL as it is (not
// rendered): a reference or context variable in it is refused at its
// line.
//
// # Definitions
//
// cube() and view() record the definition; it is turned into YAML once
// every file has run (as Cube does, late: a sql function may use a
// constant declared further down). Definition keys are written in
// snake_case (sqlTable → sql_table), never member names; maps of members
// (measures, dimensions, segments, joins, preAggregations, hierarchies,
// granularities, indexes) become lists with name:; a function value is
// called, its parameters bound by name (CUBE, TABLE, a cube or member
// name); measure and pre-aggregation types in camelCase (countDistinct,
// originalSql) and relationships (belongsTo, manyToOne) are snake_cased.
// Each YAML node carries the line of its definition in the .js file: the
// definition object literal of the cube() call is found in the parsed
// source and followed key by key; where a value is not written out there
// (a variable, a helper's result), the nearest enclosing line is used.
//
// asyncModule's promise must settle by the end of the load (promise
// jobs run, no timer or network event ever happens), and a promise
// still rejected with no handler by then — an error in a .then()
// callback, in an async function nobody awaits, as in
// tables.forEach(async (t) => …) — is an error at the place it
// happened, as Node reports an unhandled rejection: the cubes it would
// have defined do not silently go missing.
//
// # Sandbox and budgets
//
// No file, network or process access: require() reads only the files
// handed to Eval (relative to the requiring file, never out of the
// folder), a Node module name or an absolute path is refused, and fetch,
// XMLHttpRequest, process, setTimeout and friends throw. Source maps are
// never loaded (goja would read them from disk). One load has a time
// budget (Options.Timeout, enforced with Runtime.Interrupt) and a heap
// budget (Options.MaxHeapGrowth: a watchdog samples the heap and
// interrupts when it grew by more than that, after a GC confirms it).
// Built-ins that allocate in one step (String.prototype.repeat, padStart,
// padEnd, concat, the Array constructor, Array.from, fill, join, JSON.stringify)
// check sizes first (Options.MaxAlloc), so that a single giant
// allocation is refused before Go attempts it; ArrayBuffer and typed
// arrays are not available. Neither are eval and the Function,
// AsyncFunction and GeneratorFunction constructors (a model has no use
// for source compiled at run time).
//
// goja's parser, compiler, JSON.parse and regular expression parsers
// recurse in Go without a limit, and a Go stack overflow kills the
// process (no recover; the time budget does not help). So a model file,
// and every file it requires, is scanned before it is parsed (depth.go:
// a lexical scan that knows strings, comments, template literals and
// regular expressions): more than 500 levels of brackets, braces,
// parentheses and template literals, or an expression or statement
// chain of more than 20000 tokens (!!!…x, a+a+…, a.b.b…, else if …),
// are refused at their line. JSON.parse's text, a required .json file
// and a regular expression's pattern (RegExp, String.prototype.match,
// matchAll, search) must not nest deeper than 500 levels either, and the
// built-ins that walk nested values natively are bounded the same way
// (join and so toString, flat, JSON.stringify; toLocaleString runs in
// JavaScript, under the call stack limit). A proxy or prototype chain
// long enough to overflow would take tens of millions of objects: the
// heap budget stops it first. A built-in that loops natively cannot be
// interrupted; should one outlive the budget by more than a grace
// period, Eval returns an error and leaves it to finish on its own (it
// may no longer call back). What remains possible within the budgets: a
// regular expression that backtracks for long (goja's regexp2 has no
// timeout), a native loop over a huge array-like ({length: 4e9}), a
// string replace ($' and $& patterns) or concatenation that grows past
// the heap budget in one native call. The heap is the process's:
// another goroutine's allocations count too, hence a generous default.
//
// The real bound of the heap budget: the watchdog samples every 2 ms
// and, once a GC confirms it, stops the model when its live data grew
// by more than MaxHeapGrowth (having looked again at most an eighth of
// the budget past the limit). The + operator and template literals
// cannot be wrapped, and one concatenation in flight is not stopped:
// s = s + s doubling a string just under the budget allocates twice the
// budget in one step. So a runaway load can take about three times
// MaxHeapGrowth of heap, and about four of the process's memory with
// the garbage not yet returned (measured: about 1 GiB of RSS for the
// default 256 MiB) before it is refused.
package jsmodel
