// Package extract turns Confluence content into plain, searchable text.
//
// [StorageToText] converts a page or blog post body in Confluence storage
// format (an XHTML fragment with undeclared ac:/ri: prefixes, HTML named
// entities and CDATA sections) into one line per block, and also returns the
// page's headings. [Attachment] extracts text from an attachment's bytes
// (PDF, docx, pptx, xlsx, HTML, plain text, CSV, JSON, Markdown), reading at
// most a given number of bytes.
//
// Both are best effort and never panic on malformed input, and both bound the
// size of the text they return (see [WithMaxBytes]).
package extract

import (
	"errors"
	"fmt"
)

// DefaultMaxBytes is the default bound on the length of extracted text.
const DefaultMaxBytes = 1 << 20

// DefaultMaxDecompressed is the default bound on the total number of bytes
// decompressed from a zip-based Office file (zip bomb guard).
const DefaultMaxDecompressed = 128 << 20

// DefaultAttachmentLimit is the input limit Attachment uses when called with a
// limit <= 0.
const DefaultAttachmentLimit = 64 << 20

// Sentinel errors, to test with errors.Is.
var (
	// ErrUnsupported: the attachment's type has no text extractor; index its
	// metadata only. The concrete error is an *UnsupportedError.
	ErrUnsupported = errors.New("extract: unsupported attachment type")
	// ErrTooLarge: the input is larger than the limit (attachment bytes, or
	// decompressed bytes of an Office file). The concrete error is a
	// *TooLargeError.
	ErrTooLarge = errors.New("extract: input too large")
	// ErrMalformed: the file could not be parsed (corrupt, encrypted, or a
	// third-party parser panicked).
	ErrMalformed = errors.New("extract: malformed input")
)

// UnsupportedError reports an attachment type without a text extractor.
type UnsupportedError struct {
	FileName  string
	MediaType string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("extract: unsupported attachment type %q (%s)", e.MediaType, e.FileName)
}

// Is makes errors.Is(err, ErrUnsupported) true.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// TooLargeError reports an input over its limit. What says which bytes were
// counted: "input" for the attachment itself, "decompressed" for the
// uncompressed parts of a zip-based file.
type TooLargeError struct {
	What  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("extract: %s larger than %d bytes", e.What, e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// malformed wraps err (or a recovered panic value) as ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// UserRef identifies a user mentioned with <ri:user>. Cloud sets AccountID;
// Data Center sets UserKey and/or Username.
type UserRef struct {
	AccountID string
	UserKey   string
	Username  string
}

// UserResolver returns the display name of a mentioned user. It returns ""
// and a nil error when the user is unknown (the mention then renders as
// "@username" or "@user"); a non-nil error aborts StorageToText, which returns
// it wrapped.
type UserResolver func(UserRef) (string, error)

// Option configures StorageToText and Attachment.
type Option func(*options)

type options struct {
	maxBytes        int
	maxDecompressed int64
	resolveUser     UserResolver
}

func newOptions(opts []Option) options {
	o := options{maxBytes: DefaultMaxBytes, maxDecompressed: DefaultMaxDecompressed}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithMaxBytes bounds the length in bytes of the returned text (cut on a rune
// boundary; Text.Truncated is set). n <= 0 selects DefaultMaxBytes.
func WithMaxBytes(n int) Option {
	return func(o *options) {
		if n <= 0 {
			n = DefaultMaxBytes
		}
		o.maxBytes = n
	}
}

// WithMaxDecompressed bounds the total bytes Attachment decompresses from a
// zip-based Office file. n <= 0 selects DefaultMaxDecompressed.
func WithMaxDecompressed(n int64) Option {
	return func(o *options) {
		if n <= 0 {
			n = DefaultMaxDecompressed
		}
		o.maxDecompressed = n
	}
}

// WithUserResolver renders <ri:user> mentions through r.
func WithUserResolver(r UserResolver) Option {
	return func(o *options) { o.resolveUser = r }
}
