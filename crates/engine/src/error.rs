//! The errors the engine raises. Each names an exception shape of one service's model — the
//! `aws` crate turns it into that protocol's code and HTTP status — or is one of the two errors
//! every protocol words its own way: input breaking a constraint, and a fault of ours.
//!
//! The shapes are enums so that every code the engine can raise is listed in one place, and
//! the `aws` crate's tests check each against its service's model.

use std::fmt;

/// Declares a service's exception shapes, named as in its model.
macro_rules! exceptions {
    ($(#[$meta:meta])* $service:ident for $variant:ident { $($(#[$shape_meta:meta])* $shape:ident,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $service {
            $($(#[$shape_meta])* $shape,)*
        }

        impl $service {
            /// Every exception of this service the engine raises.
            pub const ALL: &[$service] = &[$($service::$shape,)*];

            /// The exception shape's name in the service model.
            pub fn name(self) -> &'static str {
                match self {
                    $($service::$shape => stringify!($shape),)*
                }
            }
        }

        impl From<$service> for ErrorCode {
            fn from(shape: $service) -> ErrorCode {
                ErrorCode::$variant(shape)
            }
        }
    };
}

exceptions!(
    /// CloudWatch Logs' exceptions.
    LogsException for Logs {
        ResourceNotFoundException,
        ResourceAlreadyExistsException,
        InvalidParameterException,
        LimitExceededException,
    }
);

exceptions!(
    /// CloudWatch's exceptions.
    CloudWatchException for CloudWatch {
        ResourceNotFound,
        InvalidNextToken,
        InvalidFormatFault,
        InvalidParameterValueException,
        InvalidParameterCombinationException,
        MissingRequiredParameterException,
        ResourceNotFoundException,
    }
);

exceptions!(
    /// SNS's exceptions.
    SnsException for Sns {
        NotFoundException,
        InvalidParameterException,
        InvalidParameterValueException,
        AuthorizationErrorException,
    }
);

exceptions!(
    /// CloudTrail's exceptions.
    CloudTrailException for CloudTrail {
        TrailNotFoundException,
        TrailAlreadyExistsException,
        InvalidTrailNameException,
        CloudTrailARNInvalidException,
        MaximumNumberOfTrailsExceededException,
        S3BucketDoesNotExistException,
        InvalidS3BucketNameException,
        InvalidS3PrefixException,
        InsufficientSnsTopicPolicyException,
        InvalidCloudWatchLogsLogGroupArnException,
        InvalidCloudWatchLogsRoleArnException,
        InvalidHomeRegionException,
        InvalidEventSelectorsException,
        InvalidParameterCombinationException,
        InvalidTagParameterException,
        TagsLimitExceededException,
        ResourceNotFoundException,
        InvalidLookupAttributesException,
        InvalidTimeRangeException,
        InvalidMaxResultsException,
        InvalidNextTokenException,
        InvalidTokenException,
        InsightNotEnabledException,
        EventDataStoreNotFoundException,
    }
);

/// What went wrong, as the services' models name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// An exception of CloudWatch Logs' model.
    Logs(LogsException),
    /// An exception of CloudWatch's model.
    CloudWatch(CloudWatchException),
    /// An exception of SNS's model.
    Sns(SnsException),
    /// An exception of CloudTrail's model.
    CloudTrail(CloudTrailException),
    /// Input that breaks a constraint of the model (`ValidationException` on the JSON
    /// protocols, `ValidationError` over awsQuery).
    Validation,
    /// A fault of ours (HTTP 500); its message is for the log, not the client.
    Internal,
}

impl ErrorCode {
    /// The exception shape's name: the model's, `ValidationException` or `InternalFailure`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Logs(shape) => shape.name(),
            ErrorCode::CloudWatch(shape) => shape.name(),
            ErrorCode::Sns(shape) => shape.name(),
            ErrorCode::CloudTrail(shape) => shape.name(),
            ErrorCode::Validation => "ValidationException",
            ErrorCode::Internal => "InternalFailure",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error as AWS reports it: what went wrong and a message for the client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// What went wrong.
    pub code: ErrorCode,
    /// The human-readable message.
    pub message: String,
}

impl ApiError {
    /// An error of the exception `code`.
    pub fn new(code: impl Into<ErrorCode>, message: impl Into<String>) -> ApiError {
        ApiError {
            code: code.into(),
            message: message.into(),
        }
    }

    /// Input that breaks a constraint of the model.
    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Validation, message)
    }

    /// A fault of ours (answered with HTTP 500); the message is for logs.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Internal, message)
    }

    /// Whether this is a fault of ours rather than of the request.
    pub fn is_internal(&self) -> bool {
        self.code == ErrorCode::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_named_as_in_the_models() {
        assert_eq!(
            ErrorCode::from(CloudWatchException::ResourceNotFound).name(),
            "ResourceNotFound"
        );
        assert_eq!(
            ApiError::new(SnsException::NotFoundException, "Topic does not exist").to_string(),
            "NotFoundException: Topic does not exist"
        );
        assert!(ApiError::internal("disk").is_internal());
    }
}
