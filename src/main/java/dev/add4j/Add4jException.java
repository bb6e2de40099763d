package dev.add4j;

/**
 * An error caused by the user's input (a missing file, a corrupt checkpoint, a bad option or prompt).
 * The command-line tool prints its message as one line and exits non-zero; its message must say what was
 * wrong and, where it helps, what to do instead.
 */
public class Add4jException extends RuntimeException {
    public Add4jException(String message) { super(message); }
    public Add4jException(String message, Throwable cause) { super(message, cause); }
}
