//! The `#[taskloop::main]` and `#[taskloop::test]` attributes: an `async fn` run as the main
//! task of a taskloop loop, as `asyncio.run(main())` runs a coroutine.
//!
//! Use them through the facade (`taskloop`, feature `macros`, on by default), never from this
//! crate directly: the code they generate names `::taskloop::…` paths.
//!
//! # `#[taskloop::main]`
//!
//! Turns `async fn main() -> anyhow::Result<()>` (or any `Result<T, E>`, or no return type)
//! into a plain `fn main` that builds a loop with `taskloop::Runtime::builder()` and runs the
//! body on it as the main task, like `taskloop::run`. When main ends, every task still pending
//! is cancelled and awaited, as `asyncio.run` does.
//!
//! ```
//! use std::time::Duration;
//! use taskloop::prelude::*;
//!
//! #[taskloop::main]
//! async fn main() -> anyhow::Result<()> {
//!     let task = create_task(async {
//!         sleep(Duration::from_millis(10)).await?;
//!         anyhow::Ok(21)
//!     });
//!     assert_eq!(task.await? * 2, 42);
//!     Ok(())
//! }
//! ```
//!
//! Options: `flavor = "current_thread"` (the default, asyncio's one thread) or
//! `flavor = "multi_thread"`, and `worker_threads = N` (which implies `multi_thread`; without
//! it a multi-thread loop gets one worker per CPU):
//!
//! ```
//! #[taskloop::main(flavor = "multi_thread", worker_threads = 2)]
//! async fn main() -> anyhow::Result<()> {
//!     let answer = taskloop::create_task(async { anyhow::Ok(42) }).await?;
//!     assert_eq!(answer, 42);
//!     Ok(())
//! }
//! ```
//!
//! ## The outcome
//!
//! The body runs as a task, so its outcome arrives as `Result<T, TaskError>`: a body that
//! returns `Err(e)` ends `TaskError::Failed(e)`, one that panics ends `TaskError::Panicked`,
//! one that is cancelled ends `TaskError::Cancelled`. With a `Result<T, E>` return type, the
//! `TaskError` is converted with `E::from` (`anyhow::Error` and `TaskError` itself both work),
//! and as for `taskloop::run` the body's own `E` must convert into `anyhow::Error`. With no
//! return type, a failure panics with the `TaskError`'s message. If the loop cannot be built
//! (tokio fails to start), `main` panics saying so.
//!
//! # `#[taskloop::test]`
//!
//! The same for a test: a `#[test]` function that runs its `async` body on a fresh loop.
//! Options: `flavor`, `worker_threads` as above, and `start_paused = true`, which starts the
//! loop with tokio's clock paused, so sleeps and timeouts run instantly and deterministically
//! (current-thread loops only). Paused time needs the facade's `test-util` feature in the
//! crate's dev-dependencies:
//!
//! ```toml
//! [dev-dependencies]
//! taskloop = { version = "0.1", features = ["test-util"] }
//! ```
//!
//! ```
//! #[taskloop::test(start_paused = true)]
//! async fn an_hour_long_sleep_times_out_instantly() -> anyhow::Result<()> {
//!     use std::time::Duration;
//!     use taskloop::{TaskError, sleep, wait_for};
//!
//!     let outcome = wait_for(sleep(Duration::from_secs(3600)), Duration::from_secs(1)).await;
//!     assert!(matches!(outcome, Err(TaskError::Timeout)));
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! ## Failures nobody looked at fail the test
//!
//! asyncio logs "Task exception was never retrieved" and moves on; in a test that hides a bug
//! (what tokio users ask for in tokio-rs/tokio#4516). So the test installs an exception
//! handler (`taskloop::set_exception_handler`) before its body runs, records everything the
//! loop reports to it — failures of tasks whose outcome was never retrieved, failures of tasks
//! cancelled when the test ended, panics in done callbacks and `call_soon` callbacks — and
//! panics at the end, listing each report, if there was any. A test that expects such reports
//! installs its own handler, which replaces the recording one.
//!
//! # Misuse
//!
//! A function that is not `async`, takes arguments or is generic, an unknown option, a bad
//! value, `start_paused` on a multi-thread loop, or a second `#[test]` is a compile error
//! pointing at the problem.

#![doc(test(attr(deny(warnings))))]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, LitBool, LitInt, LitStr, ReturnType, Type};

/// Runs an `async fn main` as the main task of a taskloop loop: asyncio's `asyncio.run(main())`.
///
/// Options: `flavor = "current_thread" | "multi_thread"`, `worker_threads = N`. See the
/// [crate docs](crate) for the outcome and the errors.
///
/// # Examples
///
/// ```
/// use taskloop::prelude::*;
///
/// #[taskloop::main]
/// async fn main() -> anyhow::Result<()> {
///     let task = create_task(async { anyhow::Ok("hello") });
///     println!("{}", task.await?);
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` test as the main task of a fresh taskloop loop; the test also fails if
/// a task failed and nobody retrieved the failure.
///
/// Options: `flavor = "current_thread" | "multi_thread"`, `worker_threads = N`,
/// `start_paused = true` (needs the `taskloop/test-util` feature). See the
/// [crate docs](crate).
///
/// # Examples
///
/// ```
/// #[taskloop::test]
/// async fn a_task_gives_its_value() -> anyhow::Result<()> {
///     assert_eq!(taskloop::create_task(async { anyhow::Ok(7) }).await?, 7);
///     Ok(())
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Test, args.into(), item.into()).into()
}

/// Which attribute is being expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Main,
    Test,
}

impl Kind {
    /// The attribute as the user writes it, for messages.
    fn attribute(self) -> &'static str {
        match self {
            Kind::Main => "#[taskloop::main]",
            Kind::Test => "#[taskloop::test]",
        }
    }
}

/// The runtime flavour asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    CurrentThread,
    MultiThread,
}

/// The options of one attribute, each with the span of its value for later checks.
#[derive(Debug, Default)]
struct Options {
    flavor: Option<(Flavor, Span)>,
    worker_threads: Option<(usize, Span)>,
    start_paused: Option<(bool, Span)>,
}

impl Options {
    /// Parses `flavor = "…", worker_threads = N, start_paused = true`.
    fn parse(kind: Kind, args: TokenStream2) -> syn::Result<Options> {
        let mut options = Options::default();
        let parser = syn::meta::parser(|meta| {
            let duplicate = |name: &str| meta.error(format!("`{name}` is given twice"));
            if meta.path.is_ident("flavor") {
                if options.flavor.is_some() {
                    return Err(duplicate("flavor"));
                }
                let value: LitStr = meta.value()?.parse()?;
                let flavor = match value.value().as_str() {
                    "current_thread" => Flavor::CurrentThread,
                    "multi_thread" => Flavor::MultiThread,
                    other => {
                        return Err(syn::Error::new(
                            value.span(),
                            format!("unknown flavor `{other}`: expected \"current_thread\" or \"multi_thread\""),
                        ));
                    }
                };
                options.flavor = Some((flavor, value.span()));
                Ok(())
            } else if meta.path.is_ident("worker_threads") {
                if options.worker_threads.is_some() {
                    return Err(duplicate("worker_threads"));
                }
                let value: LitInt = meta.value()?.parse()?;
                let n: usize = value.base10_parse()?;
                if n == 0 {
                    return Err(syn::Error::new(value.span(), "`worker_threads` must be greater than 0"));
                }
                options.worker_threads = Some((n, value.span()));
                Ok(())
            } else if meta.path.is_ident("start_paused") {
                if kind == Kind::Main {
                    return Err(meta.error(
                        "`start_paused` is an option of #[taskloop::test]; #[taskloop::main] takes `flavor` and `worker_threads`",
                    ));
                }
                if options.start_paused.is_some() {
                    return Err(duplicate("start_paused"));
                }
                let value: LitBool = meta.value()?.parse()?;
                options.start_paused = Some((value.value, value.span()));
                Ok(())
            } else {
                let path = &meta.path;
                let name = quote!(#path).to_string().replace(' ', "");
                let known = match kind {
                    Kind::Main => "`flavor` and `worker_threads`",
                    Kind::Test => "`flavor`, `worker_threads` and `start_paused`",
                };
                Err(meta.error(format!("unknown option `{name}`: {} takes {known}", kind.attribute())))
            }
        });
        syn::parse::Parser::parse2(parser, args)?;
        options.check()?;
        Ok(options)
    }

    /// Rejects combinations that cannot work.
    fn check(&self) -> syn::Result<()> {
        if let (Some((Flavor::CurrentThread, _)), Some((_, span))) = (self.flavor, self.worker_threads) {
            return Err(syn::Error::new(
                span,
                "`worker_threads` needs flavor = \"multi_thread\"; the current_thread flavor runs on one thread",
            ));
        }
        if let Some((true, span)) = self.start_paused
            && self.multi_thread()
        {
            return Err(syn::Error::new(
                span,
                "`start_paused = true` needs the current_thread flavor: tokio pauses time only on a current-thread loop",
            ));
        }
        Ok(())
    }

    /// Whether the loop runs on tokio's multi-thread runtime.
    fn multi_thread(&self) -> bool {
        matches!(self.flavor, Some((Flavor::MultiThread, _))) || self.worker_threads.is_some()
    }

    /// Statements configuring `builder`, a `taskloop::Builder`.
    fn configure(&self) -> TokenStream2 {
        let mut statements = TokenStream2::new();
        if self.multi_thread() {
            let workers = match self.worker_threads {
                Some((n, _)) => quote!(#n),
                None => quote!(::taskloop::__macro_support::default_worker_threads()),
            };
            statements.extend(quote!(builder.worker_threads(#workers);));
        }
        if let Some((true, span)) = self.start_paused {
            statements.extend(quote_spanned!(span=> ::taskloop::__macro_support::start_paused(&mut builder);));
        }
        statements
    }
}

/// Expands one attribute; any error becomes a `compile_error!` at the span it names.
fn expand(kind: Kind, args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let function: ItemFn = match syn::parse2(item) {
        Ok(function) => function,
        Err(err) => return err.to_compile_error(),
    };
    let result = check_function(kind, &function)
        .and_then(|()| Options::parse(kind, args))
        .map(|options| generate(kind, &options, &function));
    match result {
        Ok(tokens) => tokens,
        Err(err) => {
            let error = err.to_compile_error();
            match kind {
                // An empty `main` of the same name, so that the error above is the only one
                // (without it rustc adds "`main` function not found").
                Kind::Main => {
                    let name = &function.sig.ident;
                    quote!(#error fn #name() {})
                }
                Kind::Test => error,
            }
        }
    }
}

/// Checks the function's shape: `async`, no arguments, not generic, no second `#[test]`.
fn check_function(kind: Kind, function: &ItemFn) -> syn::Result<()> {
    let sig = &function.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            format!(
                "the `async` keyword is missing from the function declaration: {} runs an `async fn`",
                kind.attribute()
            ),
        ));
    }
    if !sig.inputs.is_empty() {
        return Err(syn::Error::new_spanned(&sig.inputs, format!("{} functions take no arguments", kind.attribute())));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            format!("{} functions cannot be generic", kind.attribute()),
        ));
    }
    if kind == Kind::Test
        && let Some(attr) = function.attrs.iter().find(|attr| attr.path().is_ident("test"))
    {
        return Err(syn::Error::new_spanned(
            attr,
            "a second test attribute: #[taskloop::test] already makes the function a #[test]; remove this one",
        ));
    }
    Ok(())
}

/// The expansion: a plain function that builds the loop and runs the body as its main task.
fn generate(kind: Kind, options: &Options, function: &ItemFn) -> TokenStream2 {
    let ItemFn { attrs, vis, sig, block } = function;
    let name = &sig.ident;
    let output = &sig.output;
    let configure = options.configure();
    let test_attribute = match kind {
        Kind::Main => quote!(),
        Kind::Test => quote!(#[::core::prelude::v1::test]),
    };
    // The body keeps its own signature as an inner `async fn`, so `?` and `return` in it mean
    // what they mean in the function the user wrote.
    let body = quote!(async fn __taskloop_body() #output #block);
    let run = match kind {
        Kind::Main => quote!(::taskloop::__macro_support::run_main),
        Kind::Test => quote!(::taskloop::__macro_support::run_test),
    };
    let unit = match output {
        ReturnType::Default => true,
        ReturnType::Type(_, ty) => matches!(&**ty, Type::Tuple(tuple) if tuple.elems.is_empty()),
    };
    let finish = if unit {
        quote! {
            ::taskloop::__macro_support::unit_outcome(
                #run(&mut builder, ::taskloop::__macro_support::unit(__taskloop_body())),
            )
        }
    } else {
        // Spanned at the return type, so "From<TaskError> is not implemented" points there.
        let convert = quote_spanned!(output.span()=> ::core::convert::From::from);
        quote! {
            ::core::result::Result::map_err(#run(&mut builder, __taskloop_body()), #convert)
        }
    };
    quote! {
        #test_attribute
        #(#attrs)*
        #vis fn #name() #output {
            #body
            let mut builder = ::taskloop::Runtime::builder();
            #configure
            #finish
        }
    }
}
