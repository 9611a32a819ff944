package extract

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// fileKind is an attachment format with an extractor.
type fileKind uint8

const (
	kindUnknown fileKind = iota
	kindPDF
	kindDOCX
	kindPPTX
	kindXLSX
	kindHTML
	kindText
	kindMarkdown
	kindCSV
	kindTSV
	kindJSON
	kindZip // sniffed zip: an Office file is told by its parts
)

var kindByExt = map[string]fileKind{
	".pdf":  kindPDF,
	".docx": kindDOCX, ".docm": kindDOCX,
	".pptx": kindPPTX, ".pptm": kindPPTX,
	".xlsx": kindXLSX, ".xlsm": kindXLSX,
	".html": kindHTML, ".htm": kindHTML, ".xhtml": kindHTML,
	".txt": kindText, ".text": kindText, ".log": kindText,
	".md": kindMarkdown, ".markdown": kindMarkdown,
	".csv": kindCSV, ".tsv": kindTSV,
	".json": kindJSON,
}

var kindByMediaType = map[string]fileKind{
	"application/pdf":   kindPDF,
	"application/x-pdf": kindPDF,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   kindDOCX,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": kindPPTX,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         kindXLSX,
	"text/html":                 kindHTML,
	"application/xhtml+xml":     kindHTML,
	"text/plain":                kindText,
	"text/markdown":             kindMarkdown,
	"text/x-markdown":           kindMarkdown,
	"text/csv":                  kindCSV,
	"application/csv":           kindCSV,
	"text/tab-separated-values": kindTSV,
	"application/json":          kindJSON,
	"text/json":                 kindJSON,
}

// genericMediaTypes say nothing about the format: the content is sniffed.
var genericMediaTypes = map[string]bool{
	"": true, "application/octet-stream": true, "binary/octet-stream": true,
	"application/unknown": true, "application/x-download": true,
	"application/force-download": true, "application/zip": true,
	"application/x-zip-compressed": true,
}

// detect picks the format from the file name extension, else the media type.
// sniff is true when neither tells and the content must.
func detect(fileName, mediaType string) (k fileKind, sniff bool) {
	if k := kindByExt[strings.ToLower(path.Ext(fileName))]; k != kindUnknown {
		return k, false
	}
	mt, _, err := mime.ParseMediaType(mediaType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(mediaType))
	}
	if k := kindByMediaType[mt]; k != kindUnknown {
		return k, false
	}
	if strings.HasSuffix(mt, "+json") {
		return kindJSON, false
	}
	return kindUnknown, genericMediaTypes[mt]
}

// sniffKind picks the format from the first bytes.
func sniffKind(head []byte) fileKind {
	mt, _, _ := strings.Cut(http.DetectContentType(head), ";")
	switch mt {
	case "application/pdf":
		return kindPDF
	case "text/html":
		return kindHTML
	case "text/plain":
		return kindText
	case "application/zip":
		return kindZip
	}
	return kindUnknown
}

// Supported reports whether Attachment may extract text from a file of this
// name and media type, so callers can skip downloading files it would refuse.
// It is true for unknown types that Attachment would sniff.
func Supported(fileName, mediaType string) bool {
	kind, sniff := detect(fileName, mediaType)
	return kind != kindUnknown || sniff
}

// Attachment extracts the text of an attachment read from r.
//
// The format is chosen by the file name's extension, else the media type,
// else by sniffing the content: PDF, docx, pptx, xlsx, HTML, plain text,
// Markdown, CSV/TSV and JSON are supported. Any other format returns an
// *UnsupportedError (errors.Is ErrUnsupported) without reading r: index the
// attachment's metadata only.
//
// At most limit bytes are read (limit <= 0 selects DefaultAttachmentLimit);
// a larger input returns a *TooLargeError (errors.Is ErrTooLarge). Text
// formats are streamed, and reading stops early once the text bound
// (WithMaxBytes) is reached; PDF, Office and JSON files are held in memory,
// up to limit. Office files also stop at WithMaxDecompressed bytes
// uncompressed. A file that cannot be parsed, including one that makes a
// parser panic, returns an error wrapping ErrMalformed. The context is
// checked while reading and between pages, parts and rows.
func Attachment(ctx context.Context, r io.Reader, fileName, mediaType string, limit int64, opts ...Option) (text string, err error) {
	o := newOptions(opts)
	if limit <= 0 {
		limit = DefaultAttachmentLimit
	}
	kind, sniff := detect(fileName, mediaType)
	if kind == kindUnknown && !sniff {
		return "", &UnsupportedError{FileName: fileName, MediaType: mediaType}
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	lr := &limitReader{r: ctxReader{ctx, r}, left: limit}
	var src io.Reader = lr
	if sniff {
		br := bufio.NewReaderSize(lr, 4096)
		head, _ := br.Peek(512)
		if kind = sniffKind(head); kind == kindUnknown {
			if lr.exceeded {
				return "", &TooLargeError{What: "input", Limit: limit}
			}
			return "", &UnsupportedError{FileName: fileName, MediaType: mediaType}
		}
		src = br
	}
	w := newTextWriter(o.maxBytes)
	err = guard(func() error { return extractKind(ctx, kind, src, mediaType, &o, w) })
	switch {
	case lr.exceeded:
		return "", &TooLargeError{What: "input", Limit: limit}
	case ctx.Err() != nil:
		return "", ctx.Err()
	case errors.Is(err, ErrUnsupported):
		return "", &UnsupportedError{FileName: fileName, MediaType: mediaType}
	case err != nil:
		return "", err
	}
	return w.String(), nil
}

// guard turns a panic in f (a third-party parser's, typically) into an error.
func guard(f func() error) (err error) {
	if !debugNoRecover {
		defer func() {
			if p := recover(); p != nil {
				err = malformed("parser panic: %v", p)
			}
		}()
	}
	return f()
}

func extractKind(ctx context.Context, kind fileKind, src io.Reader, mediaType string, o *options, w *textWriter) error {
	switch kind {
	case kindText, kindMarkdown:
		return plainText(src, w)
	case kindCSV, kindTSV:
		return csvText(src, kind == kindTSV, w)
	case kindHTML:
		r, err := charset.NewReader(src, mediaType)
		if err != nil {
			return malformed("html: %v", err)
		}
		htmlToText(r, w)
		return nil
	}
	data, err := io.ReadAll(src)
	if err != nil {
		return err
	}
	switch kind {
	case kindPDF:
		return pdfText(ctx, data, w)
	case kindJSON:
		jsonText(data, w)
		return nil
	case kindXLSX:
		return xlsxText(ctx, data, o, w)
	}
	zr, err := openZip(data)
	if err != nil {
		return err
	}
	if kind == kindZip {
		kind = sniffOOXML(zr)
	}
	switch kind {
	case kindDOCX:
		return docxText(ctx, zr, o, w)
	case kindPPTX:
		return pptxText(ctx, zr, o, w)
	case kindXLSX:
		return xlsxText(ctx, data, o, w)
	}
	return ErrUnsupported
}

// errInputTooLarge is what limitReader returns past its limit; Attachment
// reports it as a *TooLargeError.
var errInputTooLarge = errors.New("extract: input over limit")

// limitReader reads at most left bytes and notes an attempt to read more.
type limitReader struct {
	r        io.Reader
	left     int64
	exceeded bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.exceeded {
		return 0, errInputTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		n = int(l.left)
		l.left = 0
		l.exceeded = true
		return n, errInputTooLarge
	}
	l.left -= int64(n)
	return n, err
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// decodeBOM strips a UTF-8 byte order mark and decodes UTF-16 text that
// starts with one; other input passes through.
func decodeBOM(r io.Reader) io.Reader {
	return transform.NewReader(r, unicode.BOMOverride(transform.Nop))
}

// plainText streams text, keeping line breaks.
func plainText(r io.Reader, w *textWriter) error {
	r = decodeBOM(r)
	buf := make([]byte, 32<<10)
	carry := 0
	for !w.full {
		n, err := r.Read(buf[carry:])
		n += carry
		cut := n
		if err == nil {
			cut = completeRunes(buf[:n])
		}
		w.lines(string(buf[:cut]))
		carry = copy(buf, buf[cut:n])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// completeRunes returns the length of b without a trailing incomplete rune.
func completeRunes(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}

// csvText streams records, one per line, fields separated by " | ".
// Malformed records are skipped.
func csvText(r io.Reader, tsv bool, w *textWriter) error {
	cr := csv.NewReader(decodeBOM(r))
	if tsv {
		cr.Comma = '\t'
	}
	cr.LazyQuotes = true
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	for bad := 0; !w.full; {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			if bad++; bad > 1000 {
				return nil
			}
			continue
		}
		if err != nil {
			return err
		}
		for _, f := range rec {
			if strings.TrimSpace(f) != "" {
				w.cellSep()
				w.text(f)
			}
		}
		w.lineBreak()
	}
	return nil
}

// jsonText writes each object key at the start of a line followed by its
// scalar value, and string and number values; invalid JSON is read as plain
// text. Several concatenated values (JSON Lines) are accepted.
func jsonText(data []byte, w *textWriter) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var inObject []bool // open containers, innermost last
	expectKey := false
	for !w.full {
		tok, err := dec.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			w.buf, w.pend, w.full = w.buf[:0], pendNone, false
			w.lines(string(data))
			return
		}
		isKey := false
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				inObject = append(inObject, v == '{')
				expectKey = v == '{'
				continue
			default:
				inObject = inObject[:max(len(inObject)-1, 0)]
			}
		case string:
			if isKey = expectKey; isKey {
				w.lineBreak()
			}
			w.text(v)
		case json.Number:
			w.text(string(v))
		}
		w.space()
		// After a key comes its value; after a value in an object, a key.
		expectKey = !isKey && len(inObject) > 0 && inObject[len(inObject)-1]
	}
}
